"""How a webhook delivery is signed: the Standard Webhooks scheme (``webhook-id``,
``webhook-timestamp``, ``webhook-signature``; https://www.standardwebhooks.com), plus the
``x-magpipe-signature`` header Magpipe's receivers check.

No secret is stored per endpoint: each is derived from the stack's key (kept in Secrets Manager)
and the webhook's account, id and secret version, so rotating is a version bump. Hand-written
with hmac/hashlib/base64 (stdlib) because the layer must not depend on a test-only package; the
tests check it against the ``standardwebhooks`` package itself.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24  # 192 bits; Standard Webhooks asks for 24 to 64 bytes
USER_AGENT = "batchcalls-webhooks/1"


def derive_secret(stack_key: str, account_id: str, webhook_id: str, version: int) -> str:
    """The webhook's signing secret, ``whsec_`` + base64 of 24 bytes (the form Standard
    Webhooks libraries take)."""
    fields = ("webhook-secret", account_id, webhook_id, str(version))
    if any("\n" in field for field in fields):  # would make two different inputs alike
        raise ValueError("webhook secret fields must not contain a newline")
    digest = hmac.new(stack_key.encode(), "\n".join(fields).encode(), hashlib.sha256).digest()
    return SECRET_PREFIX + base64.b64encode(digest[:SECRET_BYTES]).decode("ascii")


def standard_signature(secret: str, msg_id: str, timestamp: int, body: str) -> str:
    """``v1,<base64 HMAC-SHA256>`` of ``{msg_id}.{timestamp}.{body}`` under the secret's bytes."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"webhook secret must start with {SECRET_PREFIX}")
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    signed = f"{msg_id}.{int(timestamp)}.{body}".encode()
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")


def magpipe_signature(secret: str, body: str) -> str:
    """``sha256=<hex HMAC-SHA256>`` of the raw body, keyed with the whole secret string."""
    return "sha256=" + hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()


def signed_headers(secrets: Sequence[str], msg_id: str, timestamp: int, body: str) -> dict[str, str]:
    """The headers of one delivery. ``secrets`` newest first: during a rotation the old and the
    new secret both sign ``webhook-signature``, so a receiver holding either accepts it. Magpipe's
    header has room for one signature: it is made with the oldest secret still signing, so a
    receiver left unchanged goes on verifying until the rotation's overlap ends."""
    if not secrets:
        raise ValueError("a webhook delivery needs at least one secret")
    return {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": " ".join(standard_signature(s, msg_id, timestamp, body) for s in secrets),
        "x-magpipe-signature": magpipe_signature(secrets[-1], body),
    }
