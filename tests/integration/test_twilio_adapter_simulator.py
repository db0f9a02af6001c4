"""The production TwilioProvider (official twilio SDK) against the offline telephony simulator.

A tiny local HTTP server plays the service's status-callback endpoint and records every signed
callback; nothing here touches the real network.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from twilio.base.exceptions import TwilioRestException

from batchcalls.telephony.port import (
    CallerIdRejected,
    CallRejected,
    CallRequest,
    ProviderAuthError,
    ProviderError,
    ProviderUnavailable,
)
from batchcalls.telephony.twilio_adapter import TwilioProvider, _translate
from local.simulator import TelephonySimulator

ACCOUNT_SID = "AC" + "ab" * 16
AUTH_TOKEN = "simulator-auth-token"
FROM = "+15550009999"
RING = 0.05
TALK = 0.1
WAIT = 5.0

HUMAN, MACHINE, BUSY, NO_ANSWER, FAILED = (
    "+15551230001",
    "+15551230005",
    "+15551230007",
    "+15551230008",
    "+15551230009",
)
ANSWERED_SEQUENCE = ["initiated", "ringing", "in-progress", "completed"]
EXPECTED_SEQUENCES = {
    HUMAN: ANSWERED_SEQUENCE,
    MACHINE: ANSWERED_SEQUENCE,
    BUSY: ["initiated", "ringing", "busy"],
    NO_ANSWER: ["initiated", "ringing", "no-answer"],
    FAILED: ["initiated", "failed"],
}


# -- the callback receiver -------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    url: str  # as the receiver saw it: scheme + Host header + path and query
    params: dict[str, str]
    signature: str
    idempotency_token: str

    @property
    def status(self) -> str:
        return self.params["CallStatus"]


class CallbackReceiver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
                item = Received(
                    url=f"http://{self.headers['Host']}{self.path}",
                    params={name: values[-1] for name, values in form.items()},
                    signature=self.headers.get("X-Twilio-Signature", ""),
                    idempotency_token=self.headers.get("I-Twilio-Idempotency-Token", ""),
                )
                with receiver._lock:
                    receiver._received.append(item)
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def status_url(self, rk: str = "R%230000001") -> str:
        # A query string with an escaped '#': the signature must cover it byte for byte.
        return f"{self.base_url}/callbacks/status?batch=B1&rk={rk}&attempt=1"

    def for_call(self, call_id: str) -> list[Received]:
        with self._lock:
            return [r for r in self._received if r.params.get("CallSid") == call_id]

    def statuses(self, call_id: str) -> list[str]:
        return [r.status for r in self.for_call(call_id)]

    def clear(self) -> None:
        with self._lock:
            self._received.clear()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()


@pytest.fixture(scope="module")
def receiver() -> Iterator[CallbackReceiver]:
    server = CallbackReceiver()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(autouse=True)
def _fresh_receiver(receiver: CallbackReceiver) -> None:
    receiver.clear()


SimulatorFactory = Callable[..., TelephonySimulator]


@pytest.fixture
def make_sim() -> Iterator[SimulatorFactory]:
    started: list[TelephonySimulator] = []

    def make(**options: Any) -> TelephonySimulator:
        options.setdefault("ring_seconds", RING)
        options.setdefault("talk_seconds", TALK)
        sim = TelephonySimulator(ACCOUNT_SID, AUTH_TOKEN, **options).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()


@pytest.fixture
def sim(make_sim: SimulatorFactory) -> TelephonySimulator:
    return make_sim()


@pytest.fixture
def provider(sim: TelephonySimulator) -> TwilioProvider:
    return TwilioProvider(ACCOUNT_SID, AUTH_TOKEN, api_base_url=sim.base_url, timeout_seconds=5)


def request_to(to: str, receiver: CallbackReceiver, **overrides: Any) -> CallRequest:
    values: dict[str, Any] = {
        "to": to,
        "from_": FROM,
        "status_callback_url": receiver.status_url(),
        "twiml_url": f"{receiver.base_url}/agents/agent-1/twiml",
        "ring_timeout_seconds": 30,
        "time_limit_seconds": 3600,
        "detect_answering_machine": True,
    }
    values.update(overrides)
    return CallRequest(**values)


def wait_until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(0.005)


def settle(sim: TelephonySimulator) -> None:
    """Every call ended and every callback delivered (and so recorded by the receiver)."""
    assert sim.wait_idle(WAIT), "simulator did not settle"


# -- tests -------------------------------------------------------------------------------------


def test_outcomes_send_signed_callbacks_in_twilio_order(
    sim: TelephonySimulator, provider: TwilioProvider, receiver: CallbackReceiver
) -> None:
    placed = {}
    for to in EXPECTED_SEQUENCES:
        call = provider.place_call(request_to(to, receiver))
        assert call.call_id.startswith("CA") and len(call.call_id) == 34
        assert call.status == "queued"
        placed[to] = call.call_id
    settle(sim)

    for to, call_id in placed.items():
        received = receiver.for_call(call_id)
        assert [r.status for r in received] == EXPECTED_SEQUENCES[to], to
        for number, item in enumerate(received):
            # The exact URL we handed Twilio, query string and %23 included.
            assert item.url == receiver.status_url()
            assert provider.validate_signature(item.url, item.params, item.signature)
            assert not provider.validate_signature(
                item.url.replace("attempt=1", "attempt=2"), item.params, item.signature
            )
            assert not provider.validate_signature(
                item.url, {**item.params, "SequenceNumber": "99"}, item.signature
            )
            p = item.params
            assert p["SequenceNumber"] == str(number)
            assert p["AccountSid"] == ACCOUNT_SID
            assert (p["To"], p["From"]) == (to, FROM)
            assert p["Direction"] == "outbound-api"
            assert p["ApiVersion"] == "2010-04-01"
            assert p["CallbackSource"] == "call-progress-events"
            assert parsedate_to_datetime(p["Timestamp"]).tzinfo is not None
            assert item.idempotency_token
        final = received[-1].params
        assert "CallDuration" in final and "Duration" in final
        assert all("CallDuration" not in r.params for r in received[:-1])

    def final_of(to: str) -> dict[str, str]:
        return receiver.for_call(placed[to])[-1].params

    assert final_of(HUMAN)["AnsweredBy"] == "human"
    assert final_of(MACHINE)["AnsweredBy"] == "machine_end_beep"
    assert receiver.for_call(placed[HUMAN])[2].params["AnsweredBy"] == "human"
    for to in (HUMAN, MACHINE):
        assert int(final_of(to)["CallDuration"]) >= 1
        assert final_of(to)["Duration"] == "1"
        assert "SipResponseCode" not in final_of(to)
    for to, sip in ((BUSY, "486"), (NO_ANSWER, "487"), (FAILED, "500")):
        assert final_of(to)["SipResponseCode"] == sip
        assert (final_of(to)["CallDuration"], final_of(to)["Duration"]) == ("0", "0")
        assert "AnsweredBy" not in final_of(to)

    # fetch_call reports the final state.
    human = provider.fetch_call(placed[HUMAN])
    assert human.status == "completed"
    assert human.answered_by == "human"
    assert human.duration_seconds is not None and human.duration_seconds >= 1
    assert human.start_time is not None and human.end_time is not None
    assert human.start_time <= human.end_time
    for to, status in ((BUSY, "busy"), (NO_ANSWER, "no-answer"), (FAILED, "failed")):
        fetched = provider.fetch_call(placed[to])
        assert (fetched.status, fetched.duration_seconds, fetched.answered_by) == (status, 0, None)
        assert fetched.end_time is not None

    # The simulator's own record agrees.
    records = {c.sid: c for c in sim.calls}
    assert {records[placed[to]].final_status for to in placed} == {
        "completed",
        "busy",
        "no-answer",
        "failed",
    }
    human_record = records[placed[HUMAN]]
    assert human_record.answered_at is not None and human_record.ended_at is not None
    assert human_record.status_callback == receiver.status_url()
    assert records[placed[NO_ANSWER]].answered_at is None


def test_no_answering_machine_detection_means_no_answered_by(
    sim: TelephonySimulator, provider: TwilioProvider, receiver: CallbackReceiver
) -> None:
    call = provider.place_call(request_to(MACHINE, receiver, detect_answering_machine=False))
    settle(sim)
    assert receiver.statuses(call.call_id) == ANSWERED_SEQUENCE
    assert all("AnsweredBy" not in r.params for r in receiver.for_call(call.call_id))
    assert provider.fetch_call(call.call_id).answered_by is None


def test_wrong_credentials_raise_provider_auth_error(
    sim: TelephonySimulator, receiver: CallbackReceiver
) -> None:
    for sid, token in ((ACCOUNT_SID, "wrong-token"), ("AC" + "cd" * 16, AUTH_TOKEN)):
        bad = TwilioProvider(sid, token, api_base_url=sim.base_url)
        with pytest.raises(ProviderAuthError):
            bad.place_call(request_to(HUMAN, receiver))
        with pytest.raises(ProviderAuthError):
            bad.fetch_call("CA" + "0" * 32)
    assert sim.calls == []


def test_invalid_to_is_rejected(
    sim: TelephonySimulator, provider: TwilioProvider, receiver: CallbackReceiver
) -> None:
    with pytest.raises(CallRejected) as excinfo:
        provider.place_call(request_to("5551230001", receiver))
    message = str(excinfo.value)
    assert "21211" in message and "'To'" in message
    assert sim.calls == []


def test_hang_up_ends_an_answered_call_early(make_sim: SimulatorFactory, receiver: CallbackReceiver) -> None:
    sim = make_sim(talk_seconds=30.0)
    provider = TwilioProvider(ACCOUNT_SID, AUTH_TOKEN, api_base_url=sim.base_url)
    call = provider.place_call(request_to(HUMAN, receiver))
    wait_until(lambda: provider.fetch_call(call.call_id).status == "in-progress")

    provider.hang_up(call.call_id)
    settle(sim)
    assert receiver.statuses(call.call_id) == ANSWERED_SEQUENCE
    fetched = provider.fetch_call(call.call_id)
    assert fetched.status == "completed"
    assert fetched.duration_seconds is not None and fetched.duration_seconds <= 2
    record = sim.call(call.call_id)
    assert record is not None and record.ended_at is not None and record.answered_at is not None
    assert record.ended_at - record.answered_at < 5

    provider.hang_up(call.call_id)  # already over: a no-op, not an error
    assert provider.fetch_call(call.call_id).status == "completed"


def test_hang_up_while_ringing_cancels(make_sim: SimulatorFactory, receiver: CallbackReceiver) -> None:
    sim = make_sim(ring_seconds=30.0)
    provider = TwilioProvider(ACCOUNT_SID, AUTH_TOKEN, api_base_url=sim.base_url)
    call = provider.place_call(request_to(HUMAN, receiver))
    wait_until(lambda: receiver.statuses(call.call_id) == ["initiated", "ringing"])

    provider.hang_up(call.call_id)
    settle(sim)
    received = receiver.for_call(call.call_id)
    assert [r.status for r in received] == ["initiated", "ringing", "canceled"]
    assert received[-1].params["SipResponseCode"] == "487"
    assert provider.fetch_call(call.call_id).status == "canceled"


def test_duplicate_callbacks_are_sent_twice(make_sim: SimulatorFactory, receiver: CallbackReceiver) -> None:
    sim = make_sim(duplicate_callbacks=True)
    provider = TwilioProvider(ACCOUNT_SID, AUTH_TOKEN, api_base_url=sim.base_url)
    call = provider.place_call(request_to(HUMAN, receiver))
    settle(sim)

    received = receiver.for_call(call.call_id)
    assert [r.status for r in received] == [s for s in ANSWERED_SEQUENCE for _ in (0, 1)]
    for first, second in zip(received[::2], received[1::2], strict=True):
        assert first == second  # same params, signature and idempotency token
        assert provider.validate_signature(second.url, second.params, second.signature)


def test_reordered_callbacks_arrive_shuffled_but_complete(
    make_sim: SimulatorFactory, receiver: CallbackReceiver
) -> None:
    sim = make_sim(reorder_callbacks=True, seed=42)
    provider = TwilioProvider(ACCOUNT_SID, AUTH_TOKEN, api_base_url=sim.base_url)
    calls = [provider.place_call(request_to(to, receiver)) for to in (HUMAN, BUSY)]
    settle(sim)

    for call, expected in zip(calls, (ANSWERED_SEQUENCE, EXPECTED_SEQUENCES[BUSY]), strict=True):
        received = receiver.for_call(call.call_id)
        statuses = [r.status for r in received]
        assert statuses != expected
        assert sorted(statuses) == sorted(expected)
        # SequenceNumber still tells the true order.
        by_sequence = sorted(received, key=lambda r: int(r.params["SequenceNumber"]))
        assert [r.status for r in by_sequence] == expected
        assert all(provider.validate_signature(r.url, r.params, r.signature) for r in received)


def test_peak_concurrency(make_sim: SimulatorFactory, receiver: CallbackReceiver) -> None:
    sim = make_sim(talk_seconds=0.3)
    provider = TwilioProvider(ACCOUNT_SID, AUTH_TOKEN, api_base_url=sim.base_url)
    # Three calls that are all live at once...
    for to in (HUMAN, "+15551230002", MACHINE):
        provider.place_call(request_to(to, receiver))
    settle(sim)
    # ...then two short ones, one after the other.
    for to in (BUSY, FAILED):
        provider.place_call(request_to(to, receiver))
        settle(sim)

    assert len(sim.calls) == 5
    assert all(c.ended_at is not None and c.ended_at >= c.created_at for c in sim.calls)
    assert sim.peak_concurrency() == 3


def test_simulator_stops_cleanly_with_calls_in_flight(
    make_sim: SimulatorFactory, receiver: CallbackReceiver
) -> None:
    sim = make_sim(ring_seconds=30.0)
    provider = TwilioProvider(ACCOUNT_SID, AUTH_TOKEN, api_base_url=sim.base_url)
    provider.place_call(request_to(HUMAN, receiver))
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 2
    assert sim.peak_concurrency() == 1  # the unfinished call still holds its line


def test_unreachable_api_is_provider_unavailable(
    make_sim: SimulatorFactory, receiver: CallbackReceiver
) -> None:
    sim = make_sim()
    base_url = sim.base_url
    sim.stop()
    provider = TwilioProvider(ACCOUNT_SID, AUTH_TOKEN, api_base_url=base_url, timeout_seconds=2)
    with pytest.raises(ProviderUnavailable):
        provider.place_call(request_to(HUMAN, receiver))
    with pytest.raises(ProviderUnavailable):
        provider.hang_up("CA" + "0" * 32)


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (401, 20003, ProviderAuthError),
        (403, 20003, ProviderAuthError),
        (400, 20003, ProviderAuthError),
        (429, 20429, ProviderUnavailable),
        (500, 20500, ProviderUnavailable),
        (503, 503, ProviderUnavailable),
        (400, 21211, CallRejected),
        (400, 21210, CallerIdRejected),
        (400, 21212, CallerIdRejected),
        (404, 20404, CallRejected),
    ],
)
def test_twilio_errors_map_onto_the_port(status: int, code: int, expected: type[ProviderError]) -> None:
    exc = TwilioRestException(status, "https://api.twilio.com/x", "Unable to create record: x", code)
    error = _translate(exc, "place the call")
    assert type(error) is expected
    assert str(code) in str(error) or str(status) in str(error)
