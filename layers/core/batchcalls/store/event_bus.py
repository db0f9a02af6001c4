"""The stack's EventBridge bus: every event, for the rules users write against it."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from batchcalls.models.events import DETAIL_TYPES, Event
from batchcalls.store.chunks import sized_chunks

SOURCE = "batchcalls"
_ENTRIES_PER_CALL = 10  # PutEvents' limits: 10 entries, 256 KB in all
_BYTES_PER_CALL = 240 * 1024


class EventBusError(RuntimeError):
    """The bus refused some entries: the caller retries (the stream record comes again)."""


class EventBus:
    def __init__(self, client: Any, bus_name: str) -> None:
        self._events = client
        self._bus = bus_name

    def publish(self, events: Sequence[Event]) -> None:
        entries = [self._entry(event) for event in events]
        sized = [
            (entry, len(entry["Detail"].encode()) + len(entry["DetailType"]) + len(SOURCE))
            for entry in entries
        ]
        for chunk in sized_chunks(sized, _ENTRIES_PER_CALL, _BYTES_PER_CALL):
            resp = self._events.put_events(Entries=chunk)
            if resp.get("FailedEntryCount"):
                codes = sorted(
                    {e.get("ErrorCode", "?") for e in resp.get("Entries", []) if e.get("ErrorCode")}
                )
                raise EventBusError(
                    f"{resp['FailedEntryCount']} events refused by the bus: {', '.join(codes)}"
                )

    def _entry(self, event: Event) -> dict[str, Any]:
        detail = {**event.data, "id": event.id, "type": event.type.value, "timestamp": event.timestamp}
        return {
            "EventBusName": self._bus,
            "Source": SOURCE,
            "DetailType": DETAIL_TYPES[event.type],
            "Detail": json.dumps(detail, separators=(",", ":")),
        }
