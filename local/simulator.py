"""Offline telephony simulator: the subset of Twilio's REST API that ``TwilioProvider`` uses.

It is a small threaded HTTP server (stdlib ``ThreadingHTTPServer``) that answers
``TwilioProvider(api_base_url=sim.base_url)`` exactly like ``https://api.twilio.com`` would for
the calls the service makes, so the production adapter is the code path exercised offline:

* ``POST /2010-04-01/Accounts/{AccountSid}/Calls.json`` creates a call (form-encoded, HTTP Basic
  auth with the simulator's account SID and auth token; a wrong pair gets Twilio's 401 / 20003,
  a ``To`` that is not ``+`` and E.164 digits gets 400 / 21211).
* ``GET  /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`` fetches its current state.
* ``POST /2010-04-01/Accounts/{AccountSid}/Calls/{CallSid}.json`` with ``Status=completed`` hangs
  up now (an answered call ends ``completed``; a queued or ringing one ends ``canceled``) and
  ``Status=canceled`` cancels a call not yet answered (no effect once answered, as on Twilio).

Status callbacks are form-encoded POSTs to the call's ``StatusCallback`` URL, signed with
``X-Twilio-Signature`` (``RequestValidator(auth_token).compute_signature`` over the exact URL,
query string included, and the params), carrying the params Twilio sends: ``CallSid``,
``AccountSid``, ``From``, ``To``, ``CallStatus``, ``Direction=outbound-api``,
``ApiVersion=2010-04-01``, ``Timestamp`` (RFC 2822), ``SequenceNumber`` (0, 1, 2, ... per call),
``CallbackSource=call-progress-events``; the final one adds ``CallDuration`` (seconds) and
``Duration`` (minutes, rounded up); ``AnsweredBy`` once a call with ``MachineDetection`` is
answered; ``SipResponseCode`` on busy / no-answer / failed / canceled. Only the events asked
for in ``StatusCallbackEvent`` are sent (none asked: only the final one), like Twilio.

Outcome rule (deterministic, by the LAST DIGIT of the ``To`` number; ``outcome_for``):

| Last digit | Outcome                         | Status callbacks (`CallStatus`)               |
|------------|---------------------------------|-----------------------------------------------|
| 7          | busy (SIP 486)                  | initiated → ringing → busy                    |
| 8          | no answer (SIP 487)             | initiated → ringing → no-answer (full ring)   |
| 9          | failed, carrier error (SIP 500) | initiated → failed (right after initiated)    |
| 5          | voicemail machine answers       | initiated → ringing → in-progress → completed |
|            | (`AnsweredBy=machine_end_beep`) | (completes after the talk time)               |
| any other  | a human answers                 | initiated → ringing → in-progress → completed |
|            | (`AnsweredBy=human`)            | (completes after the talk time)               |

``AnsweredBy`` is only sent (and only set on the call) when ``MachineDetection`` was requested.
A hang-up (``Status=completed``) ends the call early: ``completed`` if answered, else
``canceled`` (``SipResponseCode=487``).

Timing: ``initiated`` and ``ringing`` are sent as soon as the call is created; the answer,
``busy`` or ``no-answer`` comes ``ring_seconds`` later; an answered call completes
``talk_seconds`` after the answer (or after ``TimeLimit`` seconds if that is shorter). The
resource's ``status`` follows: queued → ringing → in-progress → final. ``start_time`` is when
the call was dialed, ``end_time`` when it ended, ``duration`` is the talk time in whole seconds
rounded up (0 if never answered).

Callback options: ``duplicate_callbacks`` sends every callback twice, back to back, same params,
same signature, same ``I-Twilio-Idempotency-Token`` header (like a Twilio retry);
``reorder_callbacks`` holds each call's callbacks until it ends, then delivers all of them in a
shuffled order (seeded by ``seed`` and the call's creation index, and never the original order)
so out-of-order handling is exercised every time. A call's callbacks are sent one at a time, in
order unless reordered; calls are delivered concurrently by a small worker pool.

Environment (``TelephonySimulator.from_env``):

| Variable                        | Default | Meaning                                           |
|---------------------------------|---------|---------------------------------------------------|
| `LOCAL_SIM_RING_SECONDS`        | 2.0     | seconds from initiated to answer/busy/no-answer   |
| `LOCAL_SIM_TALK_SECONDS`        | 5.0     | seconds an answered call lasts before completing  |
| `LOCAL_SIM_DUPLICATE_CALLBACKS` | false   | send every status callback twice                  |
| `LOCAL_SIM_REORDER_CALLBACKS`   | false   | deliver each call's callbacks shuffled (all)      |
| `LOCAL_SIM_SEED`                | 0       | seed for the reordering                           |
| `LOCAL_SIM_PORT`                | 0       | port to listen on (0: pick a free one)            |
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import heapq
import hmac
import json
import logging
import math
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from enum import Enum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self, cast
from urllib.parse import parse_qs, urlencode, urlsplit

import requests
from twilio.request_validator import RequestValidator

logger = logging.getLogger(__name__)

API_VERSION = "2010-04-01"
_E164 = re.compile(r"^\+[1-9][0-9]{1,14}$")
_CALLS_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Calls\.json$")
_CALL_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Calls/(?P<sid>[^/]+)\.json$")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})

# Call resource statuses (what GET returns) and the callback event each belongs to.
QUEUED, RINGING, IN_PROGRESS = "queued", "ringing", "in-progress"
COMPLETED, BUSY, NO_ANSWER, FAILED, CANCELED = (
    "completed",
    "busy",
    "no-answer",
    "failed",
    "canceled",
)
TERMINAL_STATUSES = frozenset({COMPLETED, BUSY, NO_ANSWER, FAILED, CANCELED})
_EVENT_OF_STATUS = {"initiated": "initiated", RINGING: "ringing", IN_PROGRESS: "answered"}
_SIP_CODE = {BUSY: "486", NO_ANSWER: "487", FAILED: "500", CANCELED: "487"}
_AMD_MODES = frozenset({"enable", "detectmessageend"})


class Outcome(Enum):
    """How a simulated call to a number goes (see ``outcome_for``)."""

    HUMAN = "human"
    MACHINE = "machine"
    BUSY = "busy"
    NO_ANSWER = "no-answer"
    FAILED = "failed"


_OUTCOME_BY_LAST_DIGIT = {
    "5": Outcome.MACHINE,
    "7": Outcome.BUSY,
    "8": Outcome.NO_ANSWER,
    "9": Outcome.FAILED,
}


def outcome_for(number: str) -> Outcome:
    """The outcome of a call to ``number``, by its last digit: 5 machine, 7 busy, 8 no-answer,
    9 failed, anything else a human answers."""
    return _OUTCOME_BY_LAST_DIGIT.get(number.strip()[-1:], Outcome.HUMAN)


@dataclass
class CallRecord:
    """One simulated call. ``*_at`` are ``time.time()`` floats; the simulator hands out copies."""

    sid: str
    index: int  # creation order, 0-based
    account_sid: str
    to: str
    from_: str
    url: str | None
    status_callback: str | None
    status_callback_method: str
    status_callback_events: frozenset[str]
    timeout: int | None
    time_limit: int | None
    machine_detection: str | None
    outcome: Outcome
    created_at: float
    updated_at: float
    status: str = QUEUED  # current resource status; final once ``ended_at`` is set
    started_at: float | None = None  # dialed (initiated)
    answered_at: float | None = None
    ended_at: float | None = None
    answered_by: str | None = None
    duration: int | None = None  # whole seconds talked, rounded up; set when the call ends
    callbacks_emitted: int = 0

    @property
    def ended(self) -> bool:
        return self.ended_at is not None

    @property
    def final_status(self) -> str | None:
        return self.status if self.ended_at is not None else None

    @property
    def amd_requested(self) -> bool:
        return (self.machine_detection or "").lower() in _AMD_MODES


@dataclass(frozen=True)
class Callback:
    """One status callback, exactly as it is (or will be) sent."""

    call_sid: str
    url: str  # the URL requested (for GET it carries the params in its query string)
    method: str
    params: dict[str, str]  # the form body (empty for GET)
    signature: str
    idempotency_token: str
    call_status: str
    sequence_number: int
    final: bool


@dataclass(frozen=True)
class Delivery:
    """What happened to one sent callback."""

    callback: Callback
    http_status: int | None  # None: never got an answer
    error: str | None
    attempts: int
    sent_at: float


@dataclass
class _CallQueue:
    items: deque[Callback] = field(default_factory=deque)
    held: list[Callback] = field(default_factory=list)  # reorder mode: waiting for the end


class TelephonySimulator:
    """A local stand-in for Twilio's Programmable Voice REST API (see the module docstring)."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ring_seconds: float = 2.0,
        talk_seconds: float = 5.0,
        duplicate_callbacks: bool = False,
        reorder_callbacks: bool = False,
        seed: int = 0,
        callback_timeout_seconds: float = 10.0,
        callback_retries: int = 2,
        callback_workers: int = 32,
    ) -> None:
        if not account_sid or not auth_token:
            raise ValueError("account_sid and auth_token are required")
        if ring_seconds < 0 or talk_seconds < 0:
            raise ValueError("ring_seconds and talk_seconds must not be negative")
        self.account_sid = account_sid
        self._auth_token = auth_token
        self.host = host
        self._requested_port = port
        self.ring_seconds = float(ring_seconds)
        self.talk_seconds = float(talk_seconds)
        self.duplicate_callbacks = duplicate_callbacks
        self.reorder_callbacks = reorder_callbacks
        self.seed = seed
        self.callback_timeout_seconds = callback_timeout_seconds
        self.callback_retries = max(0, callback_retries)
        self.callback_workers = max(1, callback_workers)

        self._validator = RequestValidator(auth_token)
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)  # a call ended or a call's queue drained
        self._wakeup = threading.Condition(self._lock)  # the scheduler has something new
        self._calls: dict[str, CallRecord] = {}
        self._order: list[str] = []
        self._live = 0  # calls created and not yet ended
        self._timers: list[tuple[float, int, str, str]] = []  # (monotonic due, seq, sid, action)
        self._timer_seq = 0
        self._queues: dict[str, _CallQueue] = {}
        self._draining: set[str] = set()
        self._deliveries: list[Delivery] = []
        self._stopping = threading.Event()
        self._server: _SimulatorHTTPServer | None = None
        self._server_thread: threading.Thread | None = None
        self._scheduler_thread: threading.Thread | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._sessions: list[requests.Session] = []

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str],
        *,
        account_sid: str | None = None,
        auth_token: str | None = None,
        host: str = "127.0.0.1",
    ) -> TelephonySimulator:
        """Build a simulator from ``LOCAL_SIM_*`` variables (table in the module docstring).

        ``account_sid`` / ``auth_token`` default to ``TWILIO_ACCOUNT_SID`` / ``TWILIO_AUTH_TOKEN``
        in ``environ`` (the same credentials the service's Twilio adapter is configured with).
        """
        sid = account_sid or environ.get("TWILIO_ACCOUNT_SID", "")
        token = auth_token or environ.get("TWILIO_AUTH_TOKEN", "")
        if not sid or not token:
            raise ValueError("the simulator needs an account SID and an auth token")
        return cls(
            sid,
            token,
            host=host,
            port=int(environ.get("LOCAL_SIM_PORT") or 0),
            ring_seconds=float(environ.get("LOCAL_SIM_RING_SECONDS") or 2.0),
            talk_seconds=float(environ.get("LOCAL_SIM_TALK_SECONDS") or 5.0),
            duplicate_callbacks=_env_flag(environ, "LOCAL_SIM_DUPLICATE_CALLBACKS"),
            reorder_callbacks=_env_flag(environ, "LOCAL_SIM_REORDER_CALLBACKS"),
            seed=int(environ.get("LOCAL_SIM_SEED") or 0),
        )

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> Self:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _SimulatorHTTPServer((self.host, self._requested_port), self)
        self._executor = ThreadPoolExecutor(
            max_workers=self.callback_workers, thread_name_prefix="sim-callback"
        )
        self._scheduler_thread = threading.Thread(
            target=self._run_scheduler, name="sim-scheduler", daemon=True
        )
        self._scheduler_thread.start()
        self._server_thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sim-http",
            daemon=True,
        )
        self._server_thread.start()
        logger.info("telephony simulator listening on %s", self.base_url)
        return self

    def stop(self) -> None:
        """Stop serving, cancel pending timers and undelivered callbacks, join the threads."""
        server = self._server
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        with self._lock:
            self._timers.clear()
            for queue in self._queues.values():
                queue.items.clear()
                queue.held.clear()
            self._wakeup.notify_all()
            self._idle.notify_all()
        if self._scheduler_thread is not None:
            self._scheduler_thread.join()
        if self._server_thread is not None:
            self._server_thread.join()
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            sessions, self._sessions = self._sessions, []
            self._queues.clear()
            self._draining.clear()
        for session in sessions:
            session.close()
        self._server = None
        self._server_thread = self._scheduler_thread = None
        self._executor = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the simulator is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """What to give ``TwilioProvider(api_base_url=...)``, e.g. ``http://127.0.0.1:4010``."""
        return f"http://{self.host}:{self.port}"

    # -- observation (tests, benchmarks) --------------------------------------------------------

    @property
    def calls(self) -> list[CallRecord]:
        """A snapshot (copies) of every call created so far, in creation order."""
        with self._lock:
            return [dataclasses.replace(self._calls[sid]) for sid in self._order]

    def call(self, sid: str) -> CallRecord | None:
        with self._lock:
            record = self._calls.get(sid)
            return dataclasses.replace(record) if record is not None else None

    @property
    def deliveries(self) -> list[Delivery]:
        """Every callback sent so far, in the order the sends finished."""
        with self._lock:
            return list(self._deliveries)

    def peak_concurrency(self) -> int:
        """The most calls that were ever live at the same moment.

        A call occupies a line from its creation (the API accepted it) until it ends (any final
        status); a call not yet ended still occupies one. A call ending at the very instant
        another is created does not overlap it.
        """
        with self._lock:
            spans = [(c.created_at, c.ended_at) for c in self._calls.values()]
        events: list[tuple[float, int]] = []
        for created, ended in spans:
            events.append((created, 1))
            events.append((ended if ended is not None else math.inf, -1))
        events.sort()  # at equal times the -1 (an end) sorts before the +1 (a start)
        live = peak = 0
        for _, delta in events:
            live += delta
            peak = max(peak, live)
        return peak

    def wait_idle(self, timeout: float) -> bool:
        """Wait until every call has ended and every callback has been sent; False on timeout."""
        with self._idle:
            return self._idle.wait_for(self._is_idle, timeout)

    def _is_idle(self) -> bool:
        # Queues of ended, fully delivered calls are dropped, so this stays cheap.
        if self._live or self._draining:
            return False
        return not any(q.items or q.held for q in self._queues.values())

    # -- the REST API (called from the HTTP handler threads) ------------------------------------

    def _check_auth(self, header: str | None) -> bool:
        if not header or not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        user, sep, password = decoded.partition(":")
        if not sep:
            return False
        ok_user = hmac.compare_digest(user.encode(), self.account_sid.encode())
        ok_password = hmac.compare_digest(password.encode(), self._auth_token.encode())
        return ok_user and ok_password

    def _create_call(self, form: Mapping[str, list[str]]) -> tuple[int, dict[str, Any]]:
        def one(name: str) -> str | None:
            values = form.get(name)
            return values[-1] if values else None

        to, from_ = one("To"), one("From")
        if not to:
            return _twilio_error(400, 21201, "No 'To' number is specified")
        if not _E164.match(to):
            return _twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
        if not from_:
            return _twilio_error(400, 21603, "A 'From' phone number is required.")
        if not _E164.match(from_):
            return _twilio_error(400, 21212, f"Invalid 'From' Phone Number: {from_}")
        if not one("Url") and not one("Twiml") and not one("ApplicationSid"):
            return _twilio_error(400, 21205, "Url parameter is required.")
        method = (one("StatusCallbackMethod") or "POST").upper()
        if method not in ("GET", "POST"):
            return _twilio_error(400, 21609, f"Invalid StatusCallbackMethod: {method}")
        try:
            timeout = _optional_int(one("Timeout"))
            time_limit = _optional_int(one("TimeLimit"))
        except ValueError:
            return _twilio_error(400, 20001, "Timeout and TimeLimit must be integers")
        events = frozenset(
            event.lower()
            for value in form.get("StatusCallbackEvent", [])
            for event in value.split()  # one per parameter, or space-separated
        )

        now = time.time()
        with self._lock:
            if self._stopping.is_set():
                return _twilio_error(503, 20503, "Service Unavailable")
            record = CallRecord(
                sid="CA" + uuid.uuid4().hex,
                index=len(self._order),
                account_sid=self.account_sid,
                to=to,
                from_=from_,
                url=one("Url"),
                status_callback=one("StatusCallback"),
                status_callback_method=method,
                status_callback_events=events or frozenset({"completed"}),
                timeout=timeout,
                time_limit=time_limit,
                machine_detection=one("MachineDetection"),
                outcome=outcome_for(to),
                created_at=now,
                updated_at=now,
            )
            self._calls[record.sid] = record
            self._order.append(record.sid)
            self._live += 1
            self._schedule(record.sid, "dial", 0.0)
            body = self._call_json(record)
        return 201, body

    def _get_call(self, sid: str, path: str) -> tuple[int, dict[str, Any]]:
        with self._lock:
            record = self._calls.get(sid)
            if record is None:
                return _not_found(path)
            return 200, self._call_json(record)

    def _update_call(self, sid: str, form: Mapping[str, list[str]], path: str) -> tuple[int, dict[str, Any]]:
        status = (form.get("Status") or [""])[-1].lower()
        if status not in (COMPLETED, CANCELED):
            return _twilio_error(
                400, 20001, "The simulator only supports updating Status to completed or canceled"
            )
        with self._lock:
            record = self._calls.get(sid)
            if record is None:
                return _not_found(path)
            if record.ended_at is None:
                if record.status in (QUEUED, RINGING):
                    self._end(record, CANCELED)
                elif status == COMPLETED:  # in progress; Status=canceled leaves it alone
                    self._end(record, COMPLETED)
            return 200, self._call_json(record)

    def _call_json(self, record: CallRecord) -> dict[str, Any]:
        uri = f"/{API_VERSION}/Accounts/{record.account_sid}/Calls/{record.sid}"
        return {
            "account_sid": record.account_sid,
            "annotation": None,
            "answered_by": record.answered_by,
            "api_version": API_VERSION,
            "caller_name": None,
            "date_created": _rfc2822(record.created_at),
            "date_updated": _rfc2822(record.updated_at),
            "direction": "outbound-api",
            "duration": str(record.duration) if record.duration is not None else None,
            "end_time": _rfc2822(record.ended_at),
            "forwarded_from": None,
            "from": record.from_,
            "from_formatted": record.from_,
            "group_sid": None,
            "parent_call_sid": None,
            "phone_number_sid": None,
            "price": None,
            "price_unit": "USD",
            "queue_time": "0",
            "sid": record.sid,
            "start_time": _rfc2822(record.started_at),
            "status": record.status,
            "subresource_uris": {
                name: f"{uri}/{name.replace('_', '/')}.json"
                for name in ("notifications", "recordings", "payments", "events", "siprec")
            },
            "to": record.to,
            "to_formatted": record.to,
            "trunk_sid": None,
            "uri": f"{uri}.json",
        }

    # -- the call state machine (runs under the lock) -------------------------------------------

    def _schedule(self, sid: str, action: str, delay: float) -> None:
        self._timer_seq += 1
        heapq.heappush(self._timers, (time.monotonic() + delay, self._timer_seq, sid, action))
        self._wakeup.notify()

    def _run_scheduler(self) -> None:
        with self._lock:
            while not self._stopping.is_set():
                if not self._timers:
                    self._wakeup.wait()
                    continue
                due = self._timers[0][0]
                wait = due - time.monotonic()
                if wait > 0:
                    self._wakeup.wait(wait)
                    continue
                _, _, sid, action = heapq.heappop(self._timers)
                record = self._calls.get(sid)
                if record is None or record.ended_at is not None:
                    continue  # hung up meanwhile
                try:
                    self._advance(record, action)
                except Exception:  # never let one call kill the scheduler
                    logger.exception("simulator: advancing call %s (%s) failed", sid, action)

    def _advance(self, record: CallRecord, action: str) -> None:
        now = time.time()
        if action == "dial":
            record.started_at = now
            record.updated_at = now
            self._emit(record, "initiated", now)
            if record.outcome is Outcome.FAILED:
                self._end(record, FAILED)
                return
            record.status = RINGING
            self._emit(record, RINGING, now)
            self._schedule(record.sid, "ring_end", self.ring_seconds)
        elif action == "ring_end":
            if record.outcome is Outcome.BUSY:
                self._end(record, BUSY)
            elif record.outcome is Outcome.NO_ANSWER:
                self._end(record, NO_ANSWER)
            else:
                record.status = IN_PROGRESS
                record.answered_at = record.updated_at = now
                if record.amd_requested:
                    machine = record.outcome is Outcome.MACHINE
                    record.answered_by = "machine_end_beep" if machine else "human"
                self._emit(record, IN_PROGRESS, now)
                talk = self.talk_seconds
                if record.time_limit is not None and record.time_limit > 0:
                    talk = min(talk, float(record.time_limit))
                self._schedule(record.sid, "hang_up", talk)
        elif action == "hang_up":
            self._end(record, COMPLETED)

    def _end(self, record: CallRecord, status: str) -> None:
        now = time.time()
        record.status = status
        record.ended_at = record.updated_at = now
        self._live -= 1
        if record.answered_at is not None:
            record.duration = math.ceil(max(0.0, now - record.answered_at))
        else:
            record.duration = 0
        self._emit(record, status, now)
        self._idle.notify_all()

    def _emit(self, record: CallRecord, call_status: str, now: float) -> None:
        final = call_status in TERMINAL_STATUSES
        event = "completed" if final else _EVENT_OF_STATUS[call_status]
        if not record.status_callback or event not in record.status_callback_events:
            if final:
                self._flush_held(record)
            return
        params = {
            "CallSid": record.sid,
            "AccountSid": record.account_sid,
            "From": record.from_,
            "To": record.to,
            "CallStatus": call_status,
            "Direction": "outbound-api",
            "ApiVersion": API_VERSION,
            "Timestamp": _rfc2822(now) or "",
            "SequenceNumber": str(record.callbacks_emitted),
            "CallbackSource": "call-progress-events",
        }
        if record.answered_by and call_status in (IN_PROGRESS, COMPLETED):
            params["AnsweredBy"] = record.answered_by
        if final:
            seconds = record.duration or 0
            params["CallDuration"] = str(seconds)
            params["Duration"] = str(math.ceil(seconds / 60))
        if call_status in _SIP_CODE:
            params["SipResponseCode"] = _SIP_CODE[call_status]
        callback = self._sign(record, params, call_status, final)
        record.callbacks_emitted += 1
        copies = [callback, callback] if self.duplicate_callbacks else [callback]
        queue = self._queues.setdefault(record.sid, _CallQueue())
        if self.reorder_callbacks:
            queue.held.extend(copies)
            if final:
                self._flush_held(record)
            return
        self._enqueue(record.sid, copies)

    def _sign(self, record: CallRecord, params: dict[str, str], call_status: str, final: bool) -> Callback:
        url = record.status_callback or ""
        method = record.status_callback_method
        if method == "GET":  # Twilio signs the full URL, params in the query string
            url = url + ("&" if "?" in url else "?") + urlencode(params)
            body: dict[str, str] = {}
        else:
            body = params
        return Callback(
            call_sid=record.sid,
            url=url,
            method=method,
            params=body,
            signature=self._validator.compute_signature(url, body),
            idempotency_token=uuid.uuid4().hex,
            call_status=call_status,
            sequence_number=int(params["SequenceNumber"]),
            final=final,
        )

    def _flush_held(self, record: CallRecord) -> None:
        queue = self._queues.get(record.sid)
        if queue is None or not queue.held:
            return
        held, queue.held = queue.held, []
        if len(held) > 1:
            rng = random.Random(f"{self.seed}:{record.index}")
            shuffled = list(held)
            rng.shuffle(shuffled)
            if [c.sequence_number for c in shuffled] == [c.sequence_number for c in held]:
                shuffled = shuffled[1:] + shuffled[:1]  # never hand back the original order
            held = shuffled
        self._enqueue(record.sid, held)

    # -- callback delivery ----------------------------------------------------------------------

    def _enqueue(self, sid: str, callbacks: list[Callback]) -> None:
        if self._stopping.is_set() or self._executor is None:
            return
        queue = self._queues.setdefault(sid, _CallQueue())
        queue.items.extend(callbacks)
        if sid not in self._draining:
            self._draining.add(sid)
            try:
                self._executor.submit(self._drain, sid)
            except RuntimeError:  # shutting down
                self._draining.discard(sid)

    def _drain(self, sid: str) -> None:
        """Send one call's queued callbacks, one at a time, until its queue is empty."""
        while True:
            with self._lock:
                queue = self._queues.get(sid)
                if self._stopping.is_set() or queue is None or not queue.items:
                    self._draining.discard(sid)
                    if queue is not None and not queue.items and not queue.held:
                        call = self._calls.get(sid)
                        if call is not None and call.ended_at is not None:
                            del self._queues[sid]
                    self._idle.notify_all()
                    return
                callback = queue.items.popleft()
            try:
                delivery = self._deliver(callback)
            except Exception as exc:  # never crash a worker
                logger.exception("simulator: callback for %s failed", sid)
                delivery = Delivery(callback, None, repr(exc), 0, time.time())
            with self._lock:
                self._deliveries.append(delivery)

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _deliver(self, callback: Callback) -> Delivery:
        headers = {
            "X-Twilio-Signature": callback.signature,
            "I-Twilio-Idempotency-Token": callback.idempotency_token,
            "User-Agent": "TwilioProxy/1.1 (batchcalls local simulator)",
            "Accept": "*/*",
        }
        attempts = 0
        error: str | None = None
        while attempts <= self.callback_retries and not self._stopping.is_set():
            attempts += 1
            try:
                response = self._session().request(
                    callback.method,
                    callback.url,
                    data=callback.params if callback.method == "POST" else None,
                    headers=headers,
                    timeout=self.callback_timeout_seconds,
                    allow_redirects=False,
                )
            except requests.ConnectionError as exc:
                error = f"{type(exc).__name__}: {exc}"
                logger.warning(
                    "simulator: callback %s #%d to %s: attempt %d: %s",
                    callback.call_sid,
                    callback.sequence_number,
                    callback.url,
                    attempts,
                    error,
                )
                self._stopping.wait(0.05 * 2**attempts)
                continue
            except requests.RequestException as exc:  # e.g. a read timeout: not retried
                error = f"{type(exc).__name__}: {exc}"
                break
            if response.status_code >= 400:
                logger.warning(
                    "simulator: callback %s %s #%d answered HTTP %d",
                    callback.call_sid,
                    callback.call_status,
                    callback.sequence_number,
                    response.status_code,
                )
            response.close()
            return Delivery(callback, response.status_code, None, attempts, time.time())
        logger.warning("simulator: gave up on callback %s: %s", callback.call_sid, error)
        return Delivery(callback, None, error or "simulator stopping", attempts, time.time())


# -- HTTP front end -------------------------------------------------------------------------------


class _SimulatorHTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], simulator: TelephonySimulator) -> None:
        self.simulator = simulator
        super().__init__(address, _TwilioApiHandler)


class _TwilioApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the SDK's pooled session expects
    disable_nagle_algorithm = True  # no delayed-ACK wait between headers and body
    timeout = 30  # idle keep-alive connections don't hold a thread forever
    server_version = "batchcalls-telephony-simulator"

    @property
    def sim(self) -> TelephonySimulator:
        return cast(_SimulatorHTTPServer, self.server).simulator

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def _dispatch(self, method: str) -> None:
        if self.sim._stopping.is_set():
            self.close_connection = True  # a kept-alive connection outliving stop()
        path = urlsplit(self.path).path
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True
            self._send_json(*_twilio_error(400, 20001, "Bad Content-Length"))
            return
        raw = self.rfile.read(length) if length > 0 else b""
        try:
            status, body = self._route(method, path, raw)
        except Exception:
            logger.exception("simulator: %s %s failed", method, path)
            status, body = _twilio_error(500, 20500, "Internal Server Error")
        self._send_json(status, body)

    def _route(self, method: str, path: str, raw: bytes) -> tuple[int, dict[str, Any]]:
        sim = self.sim
        if not path.startswith(f"/{API_VERSION}/"):
            return _not_found(path)
        if not sim._check_auth(self.headers.get("Authorization")):
            return _twilio_error(401, 20003, "Authenticate")
        form = parse_qs(raw.decode("utf-8"), keep_blank_values=True)
        match = _CALLS_PATH.match(path)
        if match is not None:
            if match["account"] != sim.account_sid:
                return _not_found(path)
            if method != "POST":
                return _twilio_error(405, 20004, "Method not allowed")
            return sim._create_call(form)
        match = _CALL_PATH.match(path)
        if match is not None:
            if match["account"] != sim.account_sid:
                return _not_found(path)
            if method == "GET":
                return sim._get_call(match["sid"], path)
            if method == "POST":
                return sim._update_call(match["sid"], form, path)
            return _twilio_error(405, 20004, "Method not allowed")
        return _not_found(path)

    def _send_json(self, status: int, body: Mapping[str, Any]) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="Twilio API"')
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("simulator http: " + format, *args)


# -- helpers --------------------------------------------------------------------------------------


def _twilio_error(status: int, code: int, message: str) -> tuple[int, dict[str, Any]]:
    """Twilio's REST error body."""
    return status, {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _not_found(path: str) -> tuple[int, dict[str, Any]]:
    return _twilio_error(404, 20404, f"The requested resource {path} was not found")


def _rfc2822(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return format_datetime(datetime.fromtimestamp(timestamp, UTC))


def _optional_int(value: str | None) -> int | None:
    return int(value) if value else None


def _env_flag(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}")
