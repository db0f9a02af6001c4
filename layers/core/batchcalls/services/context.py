"""What every use case needs, built once per Lambda container from the settings."""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import cached_property
from typing import Any

from batchcalls import aws
from batchcalls.config import Settings, get_settings
from batchcalls.domain.clock import Clock, iso, system_clock
from batchcalls.domain.retry import RetryPolicy
from batchcalls.models.domain import Account
from batchcalls.outbound.webhook_http import WebhookPoster
from batchcalls.store.accounts import AccountStore
from batchcalls.store.agents import AgentStore
from batchcalls.store.batches import BatchStore
from batchcalls.store.credits import CreditStore
from batchcalls.store.dial_queue import DialQueue
from batchcalls.store.event_bus import EventBus
from batchcalls.store.event_log import EventLog
from batchcalls.store.executions import ExecutionStore
from batchcalls.store.files import FileStore
from batchcalls.store.idempotency import persistence_layer
from batchcalls.store.import_queue import ImportQueue
from batchcalls.store.keys import webhook_slots_sk
from batchcalls.store.pacing import PaceStore
from batchcalls.store.recipients import RecipientStore
from batchcalls.store.secrets import secret_value
from batchcalls.store.slots import SlotStore
from batchcalls.store.suppression import SuppressionStore
from batchcalls.store.webhook_queue import WebhookQueue
from batchcalls.store.webhooks import DeliveryStore, WebhookStore
from batchcalls.telephony.factory import make_provider
from batchcalls.telephony.port import TelephonyProvider


class Context:
    """The stores and adapters, each built on first use from ``client`` (the container's AWS
    clients by default) unless given: tests pass their fakes here."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = system_clock,
        sleep: Callable[[float], None] = time.sleep,  # pacing waits
        client: Callable[[str], Any] = aws.client,
        db: Any | None = None,
        provider: TelephonyProvider | None = None,
        executions: ExecutionStore | None = None,
        webhook_poster: WebhookPoster | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.sleep = sleep
        self._client = client
        self._db = db
        self._provider = provider
        self._executions = executions
        self._webhook_poster = webhook_poster
        self._caller_checks: dict[tuple[str, str], tuple[bool, float]] = {}
        self._profiles: dict[str, tuple[Account, float]] = {}
        self._retry_policies: dict[str, RetryPolicy | None] = {}

    @cached_property
    def db(self) -> Any:
        return self._db if self._db is not None else self._client("dynamodb")

    @cached_property
    def executions(self) -> ExecutionStore:
        if self._executions is not None:
            return self._executions
        return ExecutionStore(self._client("stepfunctions"), self.settings.state_machine_arn)

    @cached_property
    def accounts(self) -> AccountStore:
        return AccountStore(self.db, self.settings.table_name)

    @cached_property
    def agents(self) -> AgentStore:
        return AgentStore(self.db, self.settings.table_name)

    @cached_property
    def agent_url_secret(self) -> str:
        """The key agent URLs are signed with, read once per container."""
        if self.settings.agent_url_secret:
            return self.settings.agent_url_secret
        if self.settings.agent_url_secret_arn:
            return secret_value(self._client("secretsmanager"), self.settings.agent_url_secret_arn)
        raise RuntimeError("Set AGENT_URL_SECRET or AGENT_URL_SECRET_ARN")

    @cached_property
    def batches(self) -> BatchStore:
        return BatchStore(self.db, self.settings.table_name)

    @cached_property
    def recipients(self) -> RecipientStore:
        return RecipientStore(self.db, self.settings.table_name)

    @cached_property
    def files(self) -> FileStore:
        presigner = aws.presigning_client("s3", self.settings.s3_public_endpoint_url or None)
        return FileStore(self._client("s3"), self.settings.files_bucket, presigner)

    @cached_property
    def manifests(self) -> FileStore:
        return FileStore(self._client("s3"), self.settings.manifest_bucket)

    @cached_property
    def suppression(self) -> SuppressionStore:
        return SuppressionStore(self.db, self.settings.table_name)

    @cached_property
    def slots(self) -> SlotStore:
        return SlotStore(self.db, self.settings.table_name)

    @cached_property
    def credits(self) -> CreditStore:
        return CreditStore(self.db, self.settings.table_name)

    @cached_property
    def pacing(self) -> PaceStore:
        return PaceStore(self.db, self.settings.table_name)

    @cached_property
    def dial_queue(self) -> DialQueue:
        return DialQueue(self._client("sqs"), self.settings.dial_queue_url)

    @cached_property
    def import_queue(self) -> ImportQueue:
        return ImportQueue(self._client("sqs"), self.settings.import_queue_url)

    @cached_property
    def event_bus(self) -> EventBus:
        return EventBus(self._client("events"), self.settings.event_bus_name)

    @cached_property
    def event_log(self) -> EventLog:
        return EventLog(self.db, self.settings.table_name, self.settings.event_log_days)

    @cached_property
    def webhooks(self) -> WebhookStore:
        return WebhookStore(self.db, self.settings.table_name)

    @cached_property
    def deliveries(self) -> DeliveryStore:
        return DeliveryStore(self.db, self.settings.table_name, self.settings.event_log_days)

    @cached_property
    def webhook_queue(self) -> WebhookQueue:
        return WebhookQueue(self._client("sqs"), self.settings.webhook_queue_url)

    def webhook_slots(self, webhook_id: str) -> SlotStore:
        return SlotStore(self.db, self.settings.table_name, slot_sk=webhook_slots_sk(webhook_id))

    @cached_property
    def webhook_key(self) -> str:
        """The key endpoints' secrets are derived from, read once per container."""
        if self.settings.webhook_secret:
            return self.settings.webhook_secret
        if self.settings.webhook_secret_arn:
            return secret_value(self._client("secretsmanager"), self.settings.webhook_secret_arn)
        raise RuntimeError("Set WEBHOOK_SECRET or WEBHOOK_SECRET_ARN")

    @cached_property
    def webhook_poster(self) -> WebhookPoster:
        if self._webhook_poster is not None:
            return self._webhook_poster
        return WebhookPoster(
            allow_private=self.settings.webhook_allow_private_urls,
            timeout_seconds=self.settings.webhook_timeout_seconds,
        )

    def account(self, account_id: str) -> Account:
        """The account's profile (limits, rate, pacing), read at most every
        ``CALLER_CHECK_SECONDS`` per container: a change takes effect within that time."""
        now = time.monotonic()
        cached = self._profiles.get(account_id)
        if cached and now - cached[1] < CALLER_CHECK_SECONDS:
            return cached[0]
        account = self.accounts.get_account(account_id) or Account(
            id=account_id, max_concurrency=self.settings.default_max_concurrency
        )
        self._profiles[account_id] = (account, now)
        return account

    def retry_policy(self, batch_id: str) -> RetryPolicy | None:
        """The batch's redial policy, read once per container: it is fixed from the batch's
        first dial on (``update`` does not take it, and only drafts are updated), and every
        final status of the batch needs it."""
        if batch_id not in self._retry_policies:
            if len(self._retry_policies) >= RETRY_POLICY_CACHE_SIZE:
                self._retry_policies.clear()
            batch = self.batches.get(batch_id, consistent=False)
            self._retry_policies[batch_id] = batch.retry_policy if batch else None
        return self._retry_policies[batch_id]

    @cached_property
    def idempotency(self) -> Any:
        return persistence_layer(self.db, self.settings.table_name)

    @cached_property
    def provider(self) -> TelephonyProvider:
        return self._provider if self._provider is not None else make_provider(self.settings)

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
RETRY_POLICY_CACHE_SIZE = 4096

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
