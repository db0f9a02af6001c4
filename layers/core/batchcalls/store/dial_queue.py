"""The dial queue, for the one thing the dialer asks of it: send a message again later."""

from __future__ import annotations

from typing import Any


class DialQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._sqs = client
        self._url = queue_url

    def send_later(self, body: str, delay_seconds: int) -> None:
        """A fresh copy of a message, delivered after ``delay_seconds`` (up to 900). A fresh
        message starts a new receive count, so waiting never walks it into the DLQ."""
        self._sqs.send_message(QueueUrl=self._url, MessageBody=body, DelaySeconds=min(delay_seconds, 900))
