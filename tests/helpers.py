"""Shared test helpers: a recording fake provider, signed callbacks, polling."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from twilio.request_validator import RequestValidator

from batchcalls import aws
from batchcalls.config import Settings
from batchcalls.models.messages import DialOutcome
from batchcalls.services.context import Context
from batchcalls.store.executions import ExecutionStore
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


class ExecutionsSpy(ExecutionStore):
    """The executions adapter on the stack's Step Functions, except that task-token answers are
    recorded instead of sent."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(aws.client("stepfunctions"), settings.state_machine_arn)
        self.answers: list[tuple[str, DialOutcome]] = []

    def answer_task(self, token: str, outcome: DialOutcome) -> bool:
        self.answers.append((token, outcome))
        return True


def answered(ctx: Context) -> list[str]:
    """The outcomes the context's executions spy handed to Map children, in order."""
    assert isinstance(ctx.executions, ExecutionsSpy)
    return [outcome.outcome for _, outcome in ctx.executions.answers]


def set_batch_fields(ctx: Any, batch_id: str, *, remove: tuple[str, ...] = (), **fields: Any) -> Any:
    """Arrange a batch as a test needs it (``status``, ``run_number``, ``import_status``…),
    written as is: the store's changes each keep their own condition, which a test that puts a
    batch into a state directly must step around. Returns the batch after the write."""
    from batchcalls.store import keys
    from batchcalls.store.dynamo import serialize

    names = {f"#f{i}": name for i, name in enumerate(fields)} | {
        f"#r{i}": name for i, name in enumerate(remove)
    }
    expression = "SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields)))
    if remove:
        expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(remove)))
    ctx.db.update_item(
        TableName=ctx.settings.table_name,
        Key=serialize({"pk": keys.batch_pk(batch_id), "sk": keys.BATCH_META}),
        UpdateExpression=expression,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=serialize({f":f{i}": value for i, value in enumerate(fields.values())}),
    )
    return ctx.batches.get(batch_id)
