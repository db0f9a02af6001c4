"""What every use case needs, built once per Lambda container from the settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from batchcalls import aws
from batchcalls.config import Settings, get_settings
from batchcalls.domain.clock import Clock, iso, system_clock
from batchcalls.store.accounts import AccountStore
from batchcalls.store.batches import BatchStore
from batchcalls.store.idempotency import persistence_layer
from batchcalls.store.recipients import RecipientStore
from batchcalls.telephony.factory import make_provider
from batchcalls.telephony.port import TelephonyProvider


@dataclass
class Context:
    settings: Settings
    clock: Clock = system_clock
    _provider: TelephonyProvider | None = field(default=None, repr=False)

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
    def idempotency(self) -> Any:
        return persistence_layer(self.db, self.settings.table_name)

    @property
    def provider(self) -> TelephonyProvider:
        if self._provider is None:
            self._provider = make_provider(self.settings)
        return self._provider

    def now_iso(self) -> str:
        return iso(self.clock())


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
