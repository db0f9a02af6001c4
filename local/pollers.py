"""Event sources the offline stack drives: SQS → Lambda (like an event source mapping with
ReportBatchItemFailures) and the EventBridge schedule (every LOCAL_TICK_SECONDS)."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from local.lambdas import LambdaRuntime
from local.template import REGION

logger = logging.getLogger("local.pollers")


class SqsPoller:
    def __init__(
        self,
        runtime: LambdaRuntime,
        function: str,
        queue_url: str,
        queue_arn: str,
        *,
        batch_size: int = 10,
        workers: int = 8,
    ) -> None:
        self.runtime = runtime
        self.function = function
        self.queue_url = queue_url
        self.queue_arn = queue_arn
        self.batch_size = batch_size
        self._stop = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"sqs-{function}")
        self._slots = threading.Semaphore(workers)
        self._thread = threading.Thread(target=self._run, name=f"poll-{function}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _run(self) -> None:
        import boto3  # the mocked client, created after moto started

        sqs = boto3.client("sqs", region_name=REGION)
        while not self._stop.is_set():
            self._slots.acquire()
            try:
                resp = sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=self.batch_size,
                    AttributeNames=["All"],
                    WaitTimeSeconds=1,  # long poll: moto wakes on a new message
                )
            except Exception:
                self._slots.release()
                logger.exception("receive from %s failed", self.queue_url)
                time.sleep(0.5)
                continue
            messages = resp.get("Messages", [])
            if not messages:
                self._slots.release()
                self._stop.wait(0.02)
                continue
            self._pool.submit(self._deliver, sqs, messages)

    def _deliver(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        try:
            event = {"Records": [self._record(m) for m in messages]}
            try:
                result = self.runtime.invoke(self.function, event) or {}
                failed = {f["itemIdentifier"] for f in result.get("batchItemFailures", [])}
            except Exception:
                logger.exception("%s failed on a batch of %d", self.function, len(messages))
                failed = {m["MessageId"] for m in messages}
            for message in messages:
                # Like Lambda's event source mapping: failed items stay on the queue and come
                # back when their visibility timeout ends (the handler may have shortened it).
                if message["MessageId"] not in failed:
                    sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        finally:
            self._slots.release()

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {},
            "md5OfBody": hashlib.md5(message["Body"].encode()).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": REGION,
        }


class Ticker:
    """Fires a scheduled function every ``interval`` seconds, like EventBridge Scheduler."""

    def __init__(self, runtime: LambdaRuntime, function: str, interval: float) -> None:
        self.runtime = runtime
        self.function = function
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"tick-{function}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def fire(self) -> Any:
        event = {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.scheduler",
            "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "region": REGION,
            "detail": {},
        }
        return self.runtime.invoke(self.function, event)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.fire()
            except Exception:
                logger.exception("scheduled %s failed", self.function)
