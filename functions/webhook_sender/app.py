"""The webhook queue → one signed delivery attempt per message."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from batchcalls.models.events import DeliveryMessage
from batchcalls.observability import instrumented
from batchcalls.services.context import get_context
from batchcalls.services.webhook_delivery import deliver

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> str:
    return deliver(get_context(), DeliveryMessage.model_validate_json(record.body)).value


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
