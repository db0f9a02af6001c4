"""The signed agent URL: what sign writes, verify accepts; any change, another secret or a late
fetch is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from batchcalls.config import Settings
from batchcalls.domain.agent_url import AgentCall, AgentUrlRejected, agent_key, sign, signature, verify
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.models.domain import Batch
from batchcalls.services.callbacks import agent_twiml_url

SECRET = "s3cret"  # the stack's
TEMPLATE = "https://agents.example.test/agents/{agent_id}/twiml"
CALL = AgentCall(
    account_id="acct-a", agent_id="agent-1", batch_id="b-1", recipient_key="R#0000001", expires=1_000
)
KEY = agent_key(SECRET, "acct-a", "agent-1")  # what agent-1's service holds


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def with_query(url: str, params: dict[str, str]) -> str:
    return url.split("?", 1)[0] + "?" + urlencode(params)


def test_a_signed_url_names_the_call_and_verifies() -> None:
    url = sign(TEMPLATE, CALL, SECRET)
    assert url.startswith("https://agents.example.test/agents/agent-1/twiml?")
    assert query(url)["account_id"] == "acct-a" and query(url)["rk"] == "R#0000001"
    assert verify(url, KEY, now=999) == CALL
    assert verify(query(url), KEY, now=1_000) == CALL  # the query alone, up to the second it expires


def test_a_template_with_a_query_keeps_it() -> None:
    url = sign("https://a.test/twiml?agent={agent_id}", CALL, SECRET)
    assert query(url)["agent"] == "agent-1" and verify(url, KEY, now=0) == CALL


@pytest.mark.parametrize("field", ["account_id", "agent_id", "batch_id", "rk", "expires"])
def test_any_changed_field_is_refused(field: str) -> None:
    params = query(sign(TEMPLATE, CALL, SECRET))
    params[field] = "9999" if field == "expires" else params[field] + "x"
    with pytest.raises(AgentUrlRejected, match="signature does not match"):
        verify(params, KEY, now=0)


def test_a_changed_signature_another_secret_or_a_padded_expiry_is_refused() -> None:
    params = query(sign(TEMPLATE, CALL, SECRET))
    with pytest.raises(AgentUrlRejected, match="signature"):
        verify({**params, "sig": "0" * 64}, KEY, now=0)
    with pytest.raises(AgentUrlRejected, match="signature"):
        verify({**params, "sig": "é" * 64}, KEY, now=0)  # not even hex: refused, not a crash
    with pytest.raises(AgentUrlRejected, match="signature"):
        verify(params, agent_key("another-stack's-secret", "acct-a", "agent-1"), now=0)
    with pytest.raises(AgentUrlRejected, match="signature"):
        verify({**params, "expires": "01000"}, KEY, now=0)  # the same number, not the same text


def test_an_expired_url_is_refused() -> None:
    url = sign(TEMPLATE, CALL, SECRET)
    with pytest.raises(AgentUrlRejected, match="expired"):
        verify(url, KEY, now=1_001)


def test_missing_or_malformed_fields_are_refused() -> None:
    params = query(sign(TEMPLATE, CALL, SECRET))
    for name in ("account_id", "sig"):
        with pytest.raises(AgentUrlRejected, match=f"missing {name}"):
            verify({k: v for k, v in params.items() if k != name}, KEY, now=0)
    with pytest.raises(AgentUrlRejected, match="whole number"):
        verify({**params, "expires": "soon"}, KEY, now=0)
    with pytest.raises(AgentUrlRejected, match="signature"):
        verify({**params, "rk": "R#1\nR#2"}, KEY, now=0)


def test_the_signature_is_the_documented_hmac() -> None:
    # docs/operator.md shows this computation for agent services in other languages.
    import hashlib
    import hmac

    key = hmac.new(b"s3cret", b"agent-key\nacct-a\nagent-1", hashlib.sha256).hexdigest()
    assert key == KEY
    text = "v1\nacct-a\nagent-1\nb-1\nR#0000001\n1000"
    assert signature(CALL, KEY) == hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def test_the_dialers_url_is_signed_for_the_batchs_account_and_agent() -> None:
    settings = Settings(agent_twiml_url=TEMPLATE, agent_url_expires_seconds=600)
    batch = Batch(
        id="b-1",
        account_id="acct-a",
        name="n",
        caller_id="+16045551234",
        agent_id="agent-1",
        status=BatchStatus.RUNNING,
        created_at="2026-01-01T00:00:00.000Z",
        updated_at="2026-01-01T00:00:00.000Z",
    )
    now = datetime(2026, 1, 1, tzinfo=UTC)
    url = agent_twiml_url(settings, SECRET, batch, "R#0000007", now)
    call = verify(url, KEY, now=now.timestamp())
    assert (call.account_id, call.agent_id, call.batch_id, call.recipient_key) == (
        "acct-a",
        "agent-1",
        "b-1",
        "R#0000007",
    )
    assert call.expires == int(now.timestamp()) + 600
    with pytest.raises(AgentUrlRejected):
        verify(with_query(url, {**query(url), "account_id": "acct-b"}), KEY, now=now.timestamp())


def test_another_agents_key_neither_verifies_nor_signs_for_this_agent() -> None:
    # Given the key of another agent service (of the same account, or of another)
    url = sign(TEMPLATE, CALL, SECRET)
    for other in (agent_key(SECRET, "acct-a", "agent-2"), agent_key(SECRET, "acct-b", "agent-1")):
        # Then it cannot verify this agent's URL, nor make one this agent's key accepts
        with pytest.raises(AgentUrlRejected, match="signature"):
            verify(url, other, now=0)
        forged = with_query(url, {**query(url), "sig": signature(CALL, other)})
        with pytest.raises(AgentUrlRejected, match="signature"):
            verify(forged, KEY, now=0)


def test_a_repeated_query_parameter_is_refused() -> None:
    url = sign(TEMPLATE, CALL, SECRET)
    with pytest.raises(AgentUrlRejected, match="repeated"):
        verify(url + "&account_id=acct-b", KEY, now=0)
