"""The import queue (S3 events of uploaded files), for what the importer asks of it: to go on
with an import in a fresh invocation when this one is running out of time."""

from __future__ import annotations

import json
from typing import Any


class ImportQueue:
    def __init__(self, client: Any, queue_url: str) -> None:
        self._sqs = client
        self._url = queue_url

    def send_continuation(self, key: str, started_at: str) -> None:
        body = {"continue_import": {"key": key, "started_at": started_at}}
        self._sqs.send_message(QueueUrl=self._url, MessageBody=json.dumps(body))
