"""State machine Catch: a dial task timed out or failed; settle its recipient."""

from typing import Any

from batchcalls.models.messages import LostCall
from batchcalls.observability import instrumented
from batchcalls.services.context import get_context
from batchcalls.services.lost_call import record_lost_call


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return record_lost_call(get_context(), LostCall.model_validate(event))
