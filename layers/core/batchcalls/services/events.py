"""Table changes → events: put on the bus, kept in the account's event log, and sent to every
endpoint subscribed to them (one queued delivery each). Nothing here writes the change itself:
events come from the table's stream, so there is no window in which a change commits and its
event is lost, and the same change read twice yields the same event ids."""

from __future__ import annotations

import hashlib

from batchcalls.domain import event_capture as capture
from batchcalls.models.domain import Batch
from batchcalls.models.events import DeliveryMessage, Event, EventType, Webhook, WebhookStatus
from batchcalls.services.context import Context
from batchcalls.store.stream import BatchChange, CreditsChange, RecipientChange, TableChange, WebhookChange


class EventsHeldBack(Exception):
    """A record not handled because an earlier one of its batch failed (order is kept)."""


class EventPublisher:
    """The events of a stream batch's changes; batches and endpoints read once per batch."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.failed = False  # a record of this batch failed: the rest wait for the retry
        self._batches: dict[str, Batch | None] = {}
        self._endpoints: dict[str, list[Webhook]] = {}

    def handle(self, change: TableChange) -> list[Event]:
        if isinstance(change, WebhookChange):
            self._endpoints.pop(change.new.account_id, None)  # read again: one changed
        events = self.events_of(change)
        self.publish(events)
        return events

    def events_of(self, change: TableChange) -> list[Event]:
        if isinstance(change, BatchChange):
            return self._batch_events(change)
        if isinstance(change, RecipientChange):
            return self._recipient_events(change)
        if isinstance(change, CreditsChange):
            return self._credits_events(change)
        if isinstance(change, WebhookChange):
            event = capture.webhook_disabled(change.old, change.new)
            return [event] if event else []
        return []

    def publish(self, events: list[Event]) -> None:
        """At least once: the bus, then the deliveries, then the log; a failure raises, and
        the stream gives the record again (receivers dedupe on the event id)."""
        if not events:
            return
        if self.ctx.settings.event_bus_name:
            self.ctx.event_bus.publish(events)
        deliveries = [message for event in events for message in self._deliveries(event)]
        if deliveries:
            self.ctx.webhook_queue.send(deliveries)
        for event in events:
            self.ctx.event_log.record(event)

    def endpoints(self, account_id: str) -> list[Webhook]:
        if account_id not in self._endpoints:
            self._endpoints[account_id] = [
                w for w in self.ctx.webhooks.list(account_id) if w.status is WebhookStatus.ENABLED
            ]
        return self._endpoints[account_id]

    def _deliveries(self, event: Event) -> list[DeliveryMessage]:
        return [
            DeliveryMessage(
                delivery_id=delivery_id(event, webhook.id),
                webhook_id=webhook.id,
                account_id=event.account_id,
                event=event,
            )
            for webhook in self.endpoints(event.account_id)
            if event.type in webhook.events
        ]

    def _batch_events(self, change: BatchChange) -> list[Event]:
        old, new = change.old, change.new
        if new is None:
            return []
        self._batches[new.id] = new
        events = [e for e in [capture.batch_status_changed(old, new)] if e is not None]
        if capture.is_run_completion(old, new):
            counts, cost = self.ctx.recipients.totals(new.id, new.run_number)
            events.append(capture.batch_completed(new, counts, cost))
        return events

    def _recipient_events(self, change: RecipientChange) -> list[Event]:
        old, new = change.old, change.new
        if old is None or new is None:
            return []
        batch = self._batch(change.batch_id)
        if batch is None:
            return []
        events = capture.calls_completed(batch, old, new)
        if self._wants_recipient_events(batch.account_id):
            changed = capture.recipient_status_changed(batch, old, new)
            events = ([changed] if changed else []) + events
        return events

    def _credits_events(self, change: CreditsChange) -> list[Event]:
        threshold = self.ctx.account(change.account_id).low_balance_threshold_micros
        event = capture.credits_low(
            change.account_id, change.before_micros, change.after_micros, threshold, change.at
        )
        return [event] if event else []

    def _batch(self, batch_id: str) -> Batch | None:
        if batch_id not in self._batches:
            self._batches[batch_id] = self.ctx.batches.get(batch_id)
        return self._batches[batch_id]

    def _wants_recipient_events(self, account_id: str) -> bool:
        if self.ctx.account(account_id).recipient_events:
            return True
        return any(EventType.RECIPIENT_STATUS_CHANGED in w.events for w in self.endpoints(account_id))


def delivery_id(event: Event, webhook_id: str) -> str:
    """The same for the same event and endpoint (a replayed change queues the same delivery),
    and in event time order (the deliveries page lists newest first)."""
    moment = "".join(ch for ch in event.timestamp[:19] if ch.isdigit())
    digest = hashlib.sha256(f"{event.id}\n{webhook_id}".encode()).hexdigest()[:16]
    return f"dlv_{moment}{digest}"
