"""The signed URL an answered call fetches its TwiML from (the voice agent's entry point).

The URL names the account, the agent, the batch and the recipient, and expires; an HMAC-SHA256
over exactly those values proves we wrote them, so the agent service can trust whose call it is
answering (account A cannot make B's agent talk for it, and nobody can make up a URL). Pure: no
AWS, usable as is by an agent service written in Python.

Each agent has its own key, derived from the stack's secret (``agent_key``; the operator hands
it out with ``batchcalls-admin agent-key``). A URL is signed with the key of the agent it
names, so an agent service holds only its own key: it can check the URLs meant for it and
cannot make one for any other agent (with one shared secret, every agent service could).

Agent key: HMAC-SHA256 of ``agent-key\n<account_id>\n<agent_id>`` with the stack's secret,
lowercase hex (its 64 characters, as text, are the key).

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
    recipient_key: str  # the recipient's key in the batch (R#0000001); "rk" in the URL
    expires: int  # epoch seconds

    def query(self) -> dict[str, str]:
        return {
            "account_id": self.account_id,
            "agent_id": self.agent_id,
            "batch_id": self.batch_id,
            "rk": self.recipient_key,
            "expires": str(self.expires),
        }


def _lines(*values: str) -> bytes:
    if any("\n" in value for value in values):  # would make two different texts alike
        raise ValueError("agent URL fields must not contain a newline")
    return "\n".join(values).encode()


def agent_key(stack_secret: str, account_id: str, agent_id: str) -> str:
    """The key agent ``agent_id`` of ``account_id`` verifies its URLs with (see above)."""
    return hmac.new(
        stack_secret.encode(), _lines("agent-key", account_id, agent_id), hashlib.sha256
    ).hexdigest()


def signature(call: AgentCall, key: str) -> str:
    """The ``sig`` of ``call`` under the agent's ``key``."""
    return hmac.new(key.encode(), _lines(VERSION, *call.query().values()), hashlib.sha256).hexdigest()


def sign(template: str, call: AgentCall, stack_secret: str) -> str:
    """``template`` with ``{agent_id}`` filled in and the query appended, signed with the key
    of the agent the call names."""
    key = agent_key(stack_secret, call.account_id, call.agent_id)
    base = template.replace("{agent_id}", call.agent_id)
    separator = "&" if "?" in base else "?"
    return f"{base}{separator}{urlencode({**call.query(), 'sig': signature(call, key)})}"


def verify(params: Mapping[str, str] | str, key: str, *, now: float) -> AgentCall:
    """The call a request to the agent URL is for, given its query parameters (or the whole
    URL), the agent's key (``agent_key``) and the time now (epoch seconds); raises
    :class:`AgentUrlRejected` when a field is missing or repeated, the signature does not
    match (a field was changed, or it was signed for another agent) or the URL has expired."""
    if isinstance(params, str):
        pairs = parse_qsl(urlsplit(params).query, keep_blank_values=True)
        if len({name for name, _ in pairs}) != len(pairs):
            # Frameworks differ on which of two values they read: refuse, never guess.
            raise AgentUrlRejected("a query parameter is repeated")
        params = dict(pairs)
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
        recipient_key=params["rk"],
        expires=expires,
    )
    try:
        expected = signature(call, key)
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
