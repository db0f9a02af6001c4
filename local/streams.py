"""DynamoDB stream → Lambda for the offline stack, like an event source mapping: records that
pass the mapping's filters, in order, in batches, one invocation at a time; with
ReportBatchItemFailures a failure is retried from the lowest failed record, and a batch that
keeps failing is given up on (its summary sent to the OnFailure queue, as AWS does).

The records come from ``local.moto_tuning`` (``set_stream_sink``), not from polling moto's
stream API (which this moto does not implement)."""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any, Protocol

from local.template import ACCOUNT, REGION

logger = logging.getLogger("local.streams")

FIRST_BACKOFF_SECONDS = 0.2
MAX_BACKOFF_SECONDS = 2.0
_MISSING = object()  # a field the record does not have
_OPERATORS = frozenset({"prefix", "exists"})


class Runtime(Protocol):
    def invoke(self, logical: str, event: Any) -> Any: ...


# -- event filtering ---------------------------------------------------------------------------
# Hand-written: Lambda applies a mapping's FilterCriteria on AWS's side, and no Python library
# implements those EventBridge-style patterns offline. Only the operators the template uses
# (literals, prefix, exists) are here; any other is refused when the poller is built rather
# than quietly matching nothing.


def check_pattern(pattern: Mapping[str, Any]) -> None:
    """Raises ValueError unless every leaf is a list of literals, prefixes or exists tests."""
    for key, rule in pattern.items():
        if isinstance(rule, dict):
            check_pattern(rule)
        elif not isinstance(rule, list):
            raise ValueError(f"filter field {key!r}: expected a list of values, got {rule!r}")
        else:
            for alternative in rule:
                if isinstance(alternative, dict) and (
                    len(alternative) != 1 or not set(alternative) <= _OPERATORS
                ):
                    raise ValueError(f"filter field {key!r}: unsupported rule {alternative!r}")


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """True if every field of ``pattern`` matches ``event`` (a field's rules are alternatives)."""
    for key, rule in pattern.items():
        value = event.get(key, _MISSING)
        if isinstance(rule, dict):
            if not (isinstance(value, dict) and matches(rule, value)):
                return False
        elif not any(_alternative_matches(alternative, value) for alternative in rule):
            return False
    return True


def _alternative_matches(alternative: Any, value: Any) -> bool:
    if isinstance(alternative, dict) and "exists" in alternative:
        return (value is not _MISSING) == bool(alternative["exists"])
    if value is _MISSING:
        return False
    values = value if isinstance(value, list) else [value]  # an array matches by any element
    if isinstance(alternative, dict):
        prefix = alternative["prefix"]
        return any(isinstance(v, str) and v.startswith(prefix) for v in values)
    return any(_same(v, alternative) for v in values)


def _same(value: Any, literal: Any) -> bool:
    """Equal and of one JSON type ("5" is not 5, true is not 1)."""
    numbers = (int, float)
    if isinstance(value, bool) or isinstance(literal, bool):
        return type(value) is type(literal) and value == literal
    if isinstance(value, numbers) and isinstance(literal, numbers):
        return bool(value == literal)
    return type(value) is type(literal) and bool(value == literal)


def first_failure(batch: list[dict[str, Any]], result: Any) -> int | None:
    """Where to resume after a ReportBatchItemFailures response: the lowest failed record's
    position, None if none failed; an identifier naming no record fails the whole batch."""
    failures = result.get("batchItemFailures") if isinstance(result, dict) else None
    if not failures:
        return None
    positions = {record["dynamodb"]["SequenceNumber"]: i for i, record in enumerate(batch)}
    try:
        return min(positions[failure["itemIdentifier"]] for failure in failures)
    except (KeyError, TypeError):
        logger.warning("batchItemFailures names no record of the batch: %r", failures)
        return 0


# -- the mapping ---------------------------------------------------------------------------------


class StreamPoller:
    def __init__(
        self,
        runtime: Runtime,
        function: str,
        table_name: str,
        *,
        filters: list[dict[str, Any]],
        batch_size: int = 100,
        batching_window_seconds: float = 0.0,
        max_retries: int = 10,  # MaximumRetryAttempts; -1 retries until the records succeed
        report_batch_item_failures: bool = True,
        stream_arn: str = "",
        on_failure_queue_url: str | None = None,
    ) -> None:
        for pattern in filters:
            check_pattern(pattern)
        self.runtime = runtime
        self.function = function
        self.table_name = table_name
        self.filters = filters
        self.batch_size = batch_size
        self.batching_window_seconds = batching_window_seconds
        self.max_retries = max_retries
        self.report_batch_item_failures = report_batch_item_failures
        self.stream_arn = stream_arn
        self.on_failure_queue_url = on_failure_queue_url
        self.given_up = 0  # records dropped after their retries
        self._records: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"stream-{function}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def put(self, record: dict[str, Any]) -> None:
        """A record of the table's stream (called by the stream sink, inside the write)."""
        if self._stop.is_set():
            return
        if self.filters and not any(matches(pattern, record) for pattern in self.filters):
            return
        self._records.put(record)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch = self._next_batch()
                if batch:
                    self._deliver(batch)
            except Exception:
                logger.exception("stream poller for %s failed", self.function)
                self._stop.wait(0.5)

    def _next_batch(self) -> list[dict[str, Any]]:
        """Waits for a record (without spinning), then gathers more for up to the batching
        window, or until the batch is full."""
        try:
            batch = [self._records.get(timeout=0.5)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.batching_window_seconds
        while len(batch) < self.batch_size:
            remaining = deadline - time.monotonic()
            try:
                batch.append(
                    self._records.get(timeout=remaining) if remaining > 0 else self._records.get_nowait()
                )
            except queue.Empty:
                break
        return batch

    def _deliver(self, batch: list[dict[str, Any]]) -> None:
        retries = 0
        while batch and not self._stop.is_set():
            failed_from = self._invoke(batch)
            if failed_from is None:
                return
            batch = batch[failed_from:]  # the records before the failed one are done
            if 0 <= self.max_retries <= retries:
                self._give_up(batch, invocations=retries + 1)
                return
            self._stop.wait(min(FIRST_BACKOFF_SECONDS * 2**retries, MAX_BACKOFF_SECONDS))
            retries += 1

    def _invoke(self, batch: list[dict[str, Any]]) -> int | None:
        """Runs the function on ``batch``; the position to retry from, None if all succeeded."""
        try:
            # Each invocation gets its own copy, as JSON (a handler may change its event).
            event = json.loads(json.dumps({"Records": batch}))
            result = self.runtime.invoke(self.function, event)
        except Exception:
            logger.exception("%s failed on a batch of %d stream records", self.function, len(batch))
            return 0
        return first_failure(batch, result) if self.report_batch_item_failures else None

    def _give_up(self, batch: list[dict[str, Any]], invocations: int) -> None:
        self.given_up += len(batch)
        first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
        logger.error(
            "%s: giving up on %d stream records of %s (sequence numbers %s to %s) after %d invocations",
            self.function,
            len(batch),
            self.table_name,
            first["SequenceNumber"],
            last["SequenceNumber"],
            invocations,
        )
        if self.on_failure_queue_url:
            try:
                self._send_failure(batch, invocations)
            except Exception:
                logger.exception("sending the failed batch's summary to %s", self.on_failure_queue_url)

    def _send_failure(self, batch: list[dict[str, Any]], invocations: int) -> None:
        """The summary AWS sends to an OnFailure destination (it names the records; it does
        not carry them)."""
        import boto3  # the mocked client, created after moto started

        first, last = batch[0]["dynamodb"], batch[-1]["dynamodb"]
        note = {
            "requestContext": {
                "requestId": str(uuid.uuid4()),
                "functionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.function}",
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": invocations,
            },
            "version": "1.0",
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "DDBStreamBatchInfo": {
                "startSequenceNumber": first["SequenceNumber"],
                "endSequenceNumber": last["SequenceNumber"],
                "approximateArrivalOfFirstRecord": first.get("ApproximateCreationDateTime"),
                "approximateArrivalOfLastRecord": last.get("ApproximateCreationDateTime"),
                "batchSize": len(batch),
                "streamArn": self.stream_arn,
            },
        }
        sqs = boto3.client("sqs", region_name=REGION)
        sqs.send_message(QueueUrl=self.on_failure_queue_url, MessageBody=json.dumps(note))
