"""Shared test helpers: a recording fake provider, signed callbacks, polling."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from twilio.request_validator import RequestValidator

from batchcalls.telephony.port import CallRequest, PlacedCall, ProviderCall

T = TypeVar("T")
AUTH_TOKEN = "test-auth-token"


class FakeProvider:
    """Records calls; validates signatures with Twilio's real validator."""

    def __init__(self, auth_token: str = AUTH_TOKEN) -> None:
        self.placed: list[CallRequest] = []
        self.placed_at: list[float] = []  # epoch seconds
        self.hung_up: list[str] = []
        self.fetched: dict[str, ProviderCall] = {}
        self._validator = RequestValidator(auth_token)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.fail_with: Exception | None = None

    def place_call(self, request: CallRequest) -> PlacedCall:
        if self.fail_with is not None:
            raise self.fail_with
        with self._lock:
            self.placed.append(request)
            self.placed_at.append(time.time())
            return PlacedCall(call_id=f"CA{next(self._ids):032d}", status="queued")

    def fetch_call(self, call_id: str) -> ProviderCall:
        return self.fetched.get(call_id) or ProviderCall(call_id=call_id, status="in-progress")

    def hang_up(self, call_id: str) -> None:
        self.hung_up.append(call_id)

    def validate_signature(self, url: str, params: Mapping[str, str], signature: str) -> bool:
        return bool(self._validator.validate(url, dict(params), signature))


class Clock:
    """A clock a test sets by hand (``clock.now = …``), for ``Context(clock=…)``."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def free_throttles(ctx: Any, account_id: str) -> None:
    """Forget the account's concurrency holders and pacing reservation, so a test that dials by
    hand (with a clock of its own) starts from none, whatever earlier tests left."""
    from batchcalls.store import keys
    from batchcalls.store.dynamo import serialize

    for sk in (keys.SLOTS, keys.PACE):
        ctx.db.delete_item(
            TableName=ctx.settings.table_name, Key=serialize({"pk": keys.account_pk(account_id), "sk": sk})
        )


def sign(url: str, params: Mapping[str, str], auth_token: str = AUTH_TOKEN) -> str:
    return str(RequestValidator(auth_token).compute_signature(url, dict(params)))


def wait_for(probe: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.05) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


class SfnSpy:
    """Wraps the Step Functions client and records task-token answers."""

    def __init__(self, real: Any) -> None:
        self._real = real
        self.successes: list[tuple[str, str]] = []
        self.exceptions = real.exceptions

    def send_task_success(self, taskToken: str, output: str) -> None:
        self.successes.append((taskToken, output))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)
