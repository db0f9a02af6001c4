"""Webhook signatures, checked by the Standard Webhooks reference library (``standardwebhooks``):
what we sign verifies there, with one secret and with either secret during a rotation; a changed
body or another secret does not."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook, WebhookVerificationError

from batchcalls.domain.webhook_signing import (
    SECRET_PREFIX,
    derive_secret,
    magpipe_signature,
    signed_headers,
    standard_signature,
)

STACK_KEY = "stack-key-from-secrets-manager"
OLD = derive_secret(STACK_KEY, "acct-a", "wh-1", 1)
NEW = derive_secret(STACK_KEY, "acct-a", "wh-1", 2)
BODY = json.dumps({"type": "batch.completed", "data": {"batch_id": "b-1", "name": "Ünïcode"}})
MSG_ID = "msg_2b8f1c"


def now() -> int:
    return int(time.time())  # standardwebhooks refuses timestamps more than 5 minutes off


def test_one_secret_verifies_with_the_reference_library() -> None:
    headers = signed_headers([NEW], MSG_ID, now(), BODY)
    assert Webhook(NEW).verify(BODY, headers) == json.loads(BODY)


def test_during_a_rotation_a_receiver_with_either_secret_accepts() -> None:
    headers = signed_headers([NEW, OLD], MSG_ID, now(), BODY)
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert Webhook(NEW).verify(BODY, headers) == json.loads(BODY)
    assert Webhook(OLD).verify(BODY, headers) == json.loads(BODY)


def test_signatures_are_in_the_order_of_the_secrets() -> None:
    timestamp = now()
    headers = signed_headers([NEW, OLD], MSG_ID, timestamp, BODY)
    assert headers["webhook-signature"].split(" ") == [
        standard_signature(NEW, MSG_ID, timestamp, BODY),
        standard_signature(OLD, MSG_ID, timestamp, BODY),
    ]


def test_a_changed_body_fails() -> None:
    headers = signed_headers([NEW], MSG_ID, now(), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(BODY.replace("b-1", "b-2"), headers)


def test_a_changed_id_or_timestamp_fails() -> None:
    timestamp = now()
    headers = signed_headers([NEW], MSG_ID, timestamp, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(BODY, {**headers, "webhook-id": "msg_other"})
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(BODY, {**headers, "webhook-timestamp": str(timestamp - 1)})


def test_another_webhooks_secret_fails() -> None:
    headers = signed_headers([derive_secret(STACK_KEY, "acct-b", "wh-1", 1)], MSG_ID, now(), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(NEW).verify(BODY, headers)


def test_the_header_set() -> None:
    timestamp = now()
    headers = signed_headers([NEW, OLD], MSG_ID, timestamp, BODY)
    assert headers == {
        "content-type": "application/json",
        "user-agent": "batchcalls-webhooks/1",
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": headers["webhook-signature"],
        # One signature only: the old secret's while both sign (unchanged receivers keep working).
        "x-magpipe-signature": magpipe_signature(OLD, BODY),
    }


def test_the_magpipe_signature_is_a_hex_hmac_of_the_body_under_the_whole_secret() -> None:
    expected = hmac.new(NEW.encode("utf-8"), BODY.encode("utf-8"), hashlib.sha256).hexdigest()
    assert magpipe_signature(NEW, BODY) == f"sha256={expected}"
    assert signed_headers([NEW], MSG_ID, now(), BODY)["x-magpipe-signature"] == f"sha256={expected}"


def test_the_standard_signature_follows_the_spec_text() -> None:
    key = base64.b64decode(NEW.removeprefix("whsec_"))
    digest = hmac.new(key, f"{MSG_ID}.1700000000.{BODY}".encode(), hashlib.sha256).digest()
    assert standard_signature(NEW, MSG_ID, 1_700_000_000, BODY) == "v1," + base64.b64encode(digest).decode()


def test_signing_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        signed_headers([], MSG_ID, now(), BODY)


def test_a_secret_without_the_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="whsec_"):
        standard_signature(NEW.removeprefix("whsec_"), MSG_ID, now(), BODY)


def test_derive_secret_is_deterministic_and_has_the_documented_form() -> None:
    digest = hmac.new(
        STACK_KEY.encode(), b"webhook-secret\nacct-a\nwh-1\n2", hashlib.sha256
    ).digest()  # the recipe, written out
    assert derive_secret(STACK_KEY, "acct-a", "wh-1", 2) == NEW
    assert base64.b64decode(NEW.removeprefix(SECRET_PREFIX)) == digest[:24]
    assert NEW.startswith(SECRET_PREFIX)
    assert len(base64.b64decode(NEW.removeprefix(SECRET_PREFIX))) == 24


def test_derive_secret_differs_by_every_input() -> None:
    secrets = {
        NEW,
        derive_secret(STACK_KEY, "acct-a", "wh-1", 3),
        derive_secret(STACK_KEY, "acct-b", "wh-1", 2),
        derive_secret(STACK_KEY, "acct-a", "wh-2", 2),
        derive_secret("another-stack-key", "acct-a", "wh-1", 2),
    }
    assert len(secrets) == 5


@given(st.text(min_size=1).filter(lambda s: "\n" not in s), st.integers(min_value=0, max_value=10**6))
def test_a_derived_secret_is_one_the_reference_library_takes(webhook_id: str, version: int) -> None:
    secret = derive_secret(STACK_KEY, "acct-a", webhook_id, version)
    timestamp = now()
    headers = signed_headers([secret], MSG_ID, timestamp, BODY)
    assert Webhook(secret).verify(BODY, headers, json_parse=False) is None  # None: it verified
    assert (
        Webhook(secret).sign(MSG_ID, datetime.fromtimestamp(timestamp, UTC), BODY)
        == headers["webhook-signature"]
    )


@pytest.mark.parametrize(("account_id", "webhook_id"), [("acct\n-a", "wh-1"), ("acct-a", "wh\n1")])
def test_a_newline_in_a_field_is_refused(account_id: str, webhook_id: str) -> None:
    # "a\nb" + "c" and "a" + "b\nc" would otherwise derive the same secret.
    with pytest.raises(ValueError, match="newline"):
        derive_secret(STACK_KEY, account_id, webhook_id, 1)
