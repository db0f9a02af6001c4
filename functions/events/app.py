"""The table's stream → events (bus, event log, webhook deliveries). Records are taken in
order: after one fails, the rest of the batch fails unread, so the stream gives them again in
order (a later change is never published before an earlier one)."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from batchcalls.observability import instrumented
from batchcalls.services.context import get_context
from batchcalls.services.events import EventPublisher, EventsHeldBack
from batchcalls.store.stream import change_of

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    # One publisher per batch of records: batches and endpoints are read once per batch.
    publisher = EventPublisher(get_context())

    def record_handler(record: DynamoDBRecord) -> int:
        if publisher.failed:
            raise EventsHeldBack("an earlier record of this batch failed")
        try:
            return len(publisher.handle(change_of(record.raw_event)))
        except Exception:
            publisher.failed = True
            raise

    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
