"""What every use case needs, built once per Lambda container from the settings."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from batchcalls import aws
from batchcalls.config import Settings, get_settings
from batchcalls.domain.clock import Clock, iso, system_clock
from batchcalls.store.accounts import AccountStore
from batchcalls.store.batches import BatchStore
from batchcalls.store.dial_queue import DialQueue
from batchcalls.store.idempotency import persistence_layer
from batchcalls.store.recipients import RecipientStore
from batchcalls.store.slots import SlotStore
from batchcalls.telephony.factory import make_provider
from batchcalls.telephony.port import TelephonyProvider


@dataclass
class Context:
    settings: Settings
    clock: Clock = system_clock
    _provider: TelephonyProvider | None = field(default=None, repr=False)
    _caller_checks: dict[tuple[str, str], tuple[bool, float]] = field(default_factory=dict, repr=False)
    _limits: dict[str, tuple[int, float]] = field(default_factory=dict, repr=False)

    @cached_property
    def db(self) -> Any:
        return aws.client("dynamodb")

    @cached_property
    def sfn(self) -> Any:
        return aws.client("stepfunctions")

    @cached_property
    def s3(self) -> Any:
        return aws.client("s3")

    @cached_property
    def accounts(self) -> AccountStore:
        return AccountStore(self.db, self.settings.table_name)

    @cached_property
    def batches(self) -> BatchStore:
        return BatchStore(self.db, self.settings.table_name)

    @cached_property
    def recipients(self) -> RecipientStore:
        return RecipientStore(self.db, self.settings.table_name)

    @cached_property
    def slots(self) -> SlotStore:
        return SlotStore(self.db, self.settings.table_name)

    @cached_property
    def dial_queue(self) -> DialQueue:
        return DialQueue(aws.client("sqs"), self.settings.dial_queue_url)

    def account_max_concurrency(self, account_id: str) -> int:
        """The account's limit, read at most every ``CALLER_CHECK_SECONDS`` per container."""
        now = time.monotonic()
        cached = self._limits.get(account_id)
        if cached and now - cached[1] < CALLER_CHECK_SECONDS:
            return cached[0]
        account = self.accounts.get_account(account_id)
        limit = account.max_concurrency if account else self.settings.default_max_concurrency
        self._limits[account_id] = (limit, now)
        return limit

    @cached_property
    def idempotency(self) -> Any:
        return persistence_layer(self.db, self.settings.table_name)

    @property
    def provider(self) -> TelephonyProvider:
        if self._provider is None:
            self._provider = make_provider(self.settings)
        return self._provider

    def caller_id_active(self, account_id: str, e164: str) -> bool:
        """Is the caller ID still an active number of the account? Read at most every
        ``CALLER_CHECK_SECONDS`` per container (a deactivation takes effect within that time),
        instead of once per dial. A plain dict: one entry per caller ID, nothing to evict."""
        now = time.monotonic()
        cached = self._caller_checks.get((account_id, e164))
        if cached and now - cached[1] < CALLER_CHECK_SECONDS:
            return cached[0]
        number = self.accounts.get_caller_number(account_id, e164)
        active = bool(number and number.active)
        self._caller_checks[(account_id, e164)] = (active, now)
        return active

    def now_iso(self) -> str:
        return iso(self.clock())


CALLER_CHECK_SECONDS = 30.0

_context: Context | None = None


def get_context() -> Context:
    """The container's context, built on first use (never at import time)."""
    global _context
    if _context is None:
        _context = Context(settings=get_settings())
    return _context


def set_context(context: Context | None) -> None:
    """Replace the context (tests, the offline stack)."""
    global _context
    _context = context
