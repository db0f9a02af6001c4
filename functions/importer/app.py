"""Import queue (S3 "object created" events of uploaded recipient files) → stream each file
into its batch; a failed record is reported back for redelivery."""

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from batchcalls.observability import instrumented
from batchcalls.services.context import get_context
from batchcalls.services.uploads import handle_s3_event

processor = BatchProcessor(event_type=EventType.SQS)
_invocation: Any = None  # this invocation's Lambda context (its remaining time)


def time_left() -> float:
    return _invocation.get_remaining_time_in_millis() / 1000 if _invocation else float("inf")


# The queue's maxReceiveCount (template.yaml): the last delivery before the dead-letter queue.
MAX_RECEIVES = 3


def record_handler(record: SQSRecord) -> list[str]:
    # S3 also sends one "s3:TestEvent" (no Records) when the notification is set up.
    last = int(record.attributes.approximate_receive_count or 1) >= MAX_RECEIVES
    return handle_s3_event(get_context(), json.loads(record.body), time_left, last_attempt=last)


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    global _invocation
    _invocation = context
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
