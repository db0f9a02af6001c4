"""Shared test helpers: the one place a test context is built (``make_context``) with its
fakes (a recording provider, an executions spy, a hand-set clock), accounts and batches made for
a test, signed callbacks, polling."""

from __future__ import annotations

import io
import itertools
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

from twilio.request_validator import RequestValidator

from batchcalls import aws
from batchcalls.config import Settings, get_settings
from batchcalls.domain.clock import system_clock
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.models.api import CreateBatchRequest, UploadBatchRequest
from batchcalls.models.domain import Account, Batch, CallerNumber, Recipient
from batchcalls.models.messages import DialMessage, DialOutcome
from batchcalls.outbound.webhook_http import WebhookPoster
from batchcalls.services import account as account_service
from batchcalls.services import uploads
from batchcalls.services.batches import create_batch
from batchcalls.services.context import Context
from batchcalls.store.executions import ExecutionStore
from batchcalls.store.files import upload_key
from batchcalls.telephony.port import CallRequest, PlacedCall, ProviderCall, TelephonyProvider
from local.seed import DEMO_ACCOUNT_ID, DEMO_CALLER_ID

T = TypeVar("T")
AUTH_TOKEN = "test-auth-token"
CALLER = "+16045557777"  # the caller ID of the accounts new_account makes
RATE = 20_000  # new_account's per-minute rate: $0.02 per started minute


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


# -- contexts --------------------------------------------------------------------------------


def make_context(
    *,
    clock: Callable[[], datetime] | None = None,
    sleep: Callable[[float], None] | None = None,
    db: Any | None = None,
    provider: TelephonyProvider | None = None,
    executions: ExecutionStore | None = None,
    webhook_poster: WebhookPoster | None = None,
    **settings_overrides: Any,
) -> Context:
    """A context on the running stack's settings (``settings_overrides`` on top), whose calls go
    to a recording FakeProvider and whose task-token answers to an ExecutionsSpy unless given:
    what a test dials is never placed, what it answers never reaches the stack's executions.
    ``db`` is the one DynamoDB client every store of the context is built on."""
    settings = get_settings().model_copy(update=settings_overrides) if settings_overrides else get_settings()
    return Context(
        settings,
        clock=clock or system_clock,
        sleep=sleep or time.sleep,
        db=db,
        provider=provider if provider is not None else FakeProvider(),
        executions=executions if executions is not None else ExecutionsSpy(settings),
        webhook_poster=webhook_poster,
    )


# -- accounts and batches --------------------------------------------------------------------


def new_account(
    ctx: Context, balance: int, *, cps: float = 1000, rate: int = RATE, resume_after_top_up: bool = False
) -> str:
    """A new account (200 calls at once, ``cps`` call starts a second) with the caller ID
    ``CALLER`` and ``balance`` micros of credits put through the ledger."""
    account_id = f"acct-{uuid.uuid4().hex[:8]}"
    ctx.accounts.put_account(
        Account(
            id=account_id,
            max_concurrency=200,
            per_minute_rate_micros=rate,
            calls_per_second=cps,
            resume_after_top_up=resume_after_top_up,
        )
    )
    ctx.accounts.put_caller_number(account_id, CallerNumber(phone_number=CALLER, agent_id="a"))
    if balance:
        account_service.add_credits(ctx, account_id, balance, ref="opening")
    return account_id


def make_batch(
    ctx: Context,
    account_id: str,
    recipients: int | Sequence[str],
    *,
    caller_id: str = CALLER,
    status: BatchStatus = BatchStatus.RUNNING,
    name: str = "test batch",
    **fields: Any,
) -> Batch:
    """A batch written straight to the store at run 1, pass 1, as the dialer finds it once a
    pass is planned (no state machine: the test is the engine). ``recipients`` is the numbers,
    or how many (+14155550000, +14155550001, …)."""
    numbers = [f"+1415555{i:04d}" for i in range(recipients)] if isinstance(recipients, int) else recipients
    now = ctx.now_iso()
    batch = Batch(
        id=str(uuid.uuid4()),
        account_id=account_id,
        name=name,
        caller_id=caller_id,
        status=status,
        total_recipients=len(numbers),
        created_at=now,
        updated_at=now,
        run_number=1,
        pass_number=1,
        **fields,
    )
    ctx.batches.create(
        batch,
        [
            Recipient(batch_id=batch.id, seq=i + 1, id=str(uuid.uuid4()), phone_number=number, sort_order=i)
            for i, number in enumerate(numbers)
        ],
    )
    return batch


def create_from_request(ctx: Context, account_id: str = DEMO_ACCOUNT_ID, **body: Any) -> Batch:
    """A batch made by the create action's service from a request ``body`` (a name, the demo
    caller ID and one recipient unless given), for the demo account unless told."""
    request = CreateBatchRequest.model_validate(
        {
            "action": "create",
            "name": "test batch",
            "caller_id": DEMO_CALLER_ID,
            "recipients": [{"phone_number": "+14155551234"}],
            **body,
        }
    )
    return create_batch(ctx, account_id, request)


def hourly_series(ctx: Context, first_at: str, **body: Any) -> Batch:
    """An hourly series of the demo account, two recipients, its first occurrence at
    ``first_at`` (an ISO time)."""
    return create_from_request(
        ctx,
        name="hourly check-in",
        send_now=False,
        scheduled_at=first_at,
        recurrence_type="hourly",
        recipients=[{"phone_number": "+14155551234"}, {"phone_number": "+14155551235", "name": "B"}],
        **body,
    )


def fresh(ctx: Context, batch: Batch) -> Batch:
    """The batch as stored now."""
    found = ctx.batches.get(batch.id)
    assert found is not None
    return found


def dial_message(
    batch: Batch, seq: int = 1, *, pass_number: int = 1, token: str | None = None
) -> DialMessage:
    """The dial queue's message for recipient ``seq`` in pass ``pass_number`` of run 1, with the
    Map child's task token (one per recipient and pass unless given)."""
    return DialMessage(
        batch_id=batch.id,
        run=1,
        pass_number=pass_number,
        recipient_key=f"R#{seq:07d}",
        task_token=token or f"tok-{seq}-{pass_number}",
    )


class Cancelled(Exception):
    """What botocore raises for a cancelled TransactWriteItems, with these per-item reasons."""

    def __init__(self, *reasons: str) -> None:
        super().__init__("TransactionCanceledException")
        self.response = {
            "Error": {"Code": "TransactionCanceledException"},
            "CancellationReasons": [{"Code": r} for r in reasons],
        }


def draft_upload(ctx: Context, text: str, **extra: object) -> str:
    """A draft made by the upload route with ``text`` as its file, not yet imported."""
    request = UploadBatchRequest.model_validate(
        {"name": "up", "caller_id": DEMO_CALLER_ID, "status": "draft", **extra}
    )
    batch_id = uploads.create_upload(ctx, DEMO_ACCOUNT_ID, request).batch.id
    ctx.files.upload(upload_key(DEMO_ACCOUNT_ID, batch_id), io.BytesIO(text.encode()), "text/csv")
    return batch_id


# The create example of shared/reference/magpipe-create-batch-api.txt, field for field.
REFERENCE_EXAMPLE: dict[str, Any] = {
    "action": "create",
    "name": "Appointment Reminders",
    "caller_id": "+16045551234",
    "send_now": True,
    "window_start_time": "00:00",  # the reference's 09:00–17:00 would make tests clock-dependent
    "window_end_time": "23:59",
    "window_days": [0, 1, 2, 3, 4, 5, 6],
    "reserved_concurrency": 5,
    "recipients": [
        {"name": "John Doe", "phone_number": "+14155551234"},
        {"name": "Jane Smith", "phone_number": "+12125559876"},
    ],
}
