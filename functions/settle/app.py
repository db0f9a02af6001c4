"""State machine task: decide what the batch is after a pass."""

from typing import Any

from batchcalls.models.messages import RunPass
from batchcalls.observability import instrumented
from batchcalls.services.context import get_context
from batchcalls.services.settle import settle_pass


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    # The execution's output: what the pass left the batch as, without the fields that do not apply.
    return settle_pass(get_context(), RunPass.model_validate(event)).model_dump(
        mode="json", exclude_none=True
    )
