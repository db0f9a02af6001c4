"""The webhook queue: one message per delivery attempt (models.events.DeliveryMessage)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from batchcalls.models.events import DeliveryMessage
from batchcalls.store.chunks import sized_chunks

MAX_DELAY_SECONDS = 900  # SQS's longest DelaySeconds
_MESSAGES_PER_CALL = 10  # SendMessageBatch's limits: 10 messages, 256 KB in all
_BYTES_PER_CALL = 240 * 1024


class WebhookQueueError(RuntimeError):
    """SQS refused some messages: the caller retries."""


class WebhookQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._sqs = client
        self._url = queue_url

    def send(self, messages: Sequence[DeliveryMessage], delay_seconds: int = 0) -> None:
        delay = max(0, min(int(delay_seconds), MAX_DELAY_SECONDS))
        bodies = [message.model_dump_json() for message in messages]
        for chunk in sized_chunks(
            [(b, len(b.encode())) for b in bodies], _MESSAGES_PER_CALL, _BYTES_PER_CALL
        ):
            resp = self._sqs.send_message_batch(
                QueueUrl=self._url,
                Entries=[
                    {"Id": str(n), "MessageBody": body, "DelaySeconds": delay} for n, body in enumerate(chunk)
                ],
            )
            if resp.get("Failed"):
                raise WebhookQueueError(f"{len(resp['Failed'])} webhook deliveries not queued")
