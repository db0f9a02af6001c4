"""The signed URL an answered call fetches its TwiML from (the voice agent's entry point).

The URL names the account, the agent, the batch and the recipient, and expires; an HMAC-SHA256
over exactly those values with the stack's secret proves we wrote them, so the agent service
can trust whose call it is answering (account A cannot make B's agent talk for it, and nobody
can make up a URL). Pure: no AWS, usable as is by an agent service written in Python.

Signed text (UTF-8), the six lines joined by ``\\n``, no trailing newline::

    v1
    <account_id>
    <agent_id>
    <batch_id>
    <rk>
    <expires>

``sig`` is its HMAC-SHA256, lowercase hex. Hand-written with ``hmac``/``hashlib`` (stdlib):
a fixed field order is simpler to reproduce in any language than a canonical query string.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit

VERSION = "v1"
FIELDS = ("account_id", "agent_id", "batch_id", "rk", "expires")


class AgentUrlRejected(Exception):
    """The URL is not one we signed with this secret, or it has expired; ``reason`` says which."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class AgentCall:
    """Whose call an agent URL is for."""

    account_id: str
    agent_id: str
    batch_id: str
    rk: str  # the recipient's key in the batch (R#0000001)
    expires: int  # epoch seconds

    def query(self) -> dict[str, str]:
        return {
            "account_id": self.account_id,
            "agent_id": self.agent_id,
            "batch_id": self.batch_id,
            "rk": self.rk,
            "expires": str(self.expires),
        }


def signature(call: AgentCall, secret: str) -> str:
    values = list(call.query().values())
    if any("\n" in value for value in values):  # would make two different calls sign alike
        raise ValueError("agent URL fields must not contain a newline")
    text = "\n".join([VERSION, *values])
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def sign(template: str, call: AgentCall, secret: str) -> str:
    """``template`` with ``{agent_id}`` filled in and the signed query appended."""
    base = template.replace("{agent_id}", call.agent_id)
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{urlencode({**call.query(), 'sig': signature(call, secret)})}"


def verify(params: Mapping[str, str] | str, secret: str, *, now: float) -> AgentCall:
    """The call a request to the agent URL is for, given its query parameters (or the whole
    URL), the stack's secret and the time now (epoch seconds); raises
    :class:`AgentUrlRejected` when a field is missing, the signature does not match (a field
    was changed, or another secret signed it) or the URL has expired."""
    if isinstance(params, str):
        params = dict(parse_qsl(urlsplit(params).query, keep_blank_values=True))
    missing = [name for name in (*FIELDS, "sig") if not params.get(name)]
    if missing:
        raise AgentUrlRejected(f"missing {', '.join(missing)}")
    try:
        expires = int(params["expires"])
    except ValueError as exc:
        raise AgentUrlRejected("expires is not a whole number of seconds") from exc
    call = AgentCall(
        account_id=params["account_id"],
        agent_id=params["agent_id"],
        batch_id=params["batch_id"],
        rk=params["rk"],
        expires=expires,
    )
    try:
        expected = signature(call, secret)
    except ValueError as exc:
        raise AgentUrlRejected("signature does not match") from exc
    # Compared in constant time, and before the expiry: a forged URL learns nothing.
    if str(expires) != params["expires"] or not hmac.compare_digest(
        expected.encode(), params["sig"].lower().encode()
    ):
        raise AgentUrlRejected("signature does not match")
    if now > expires:
        raise AgentUrlRejected("expired")
    return call
