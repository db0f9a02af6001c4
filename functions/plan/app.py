"""State machine task: write the manifest of recipients this pass may call."""

from typing import Any

from batchcalls.models.messages import RunPass
from batchcalls.observability import instrumented
from batchcalls.services.context import get_context
from batchcalls.services.plan import plan_pass


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return plan_pass(get_context(), RunPass.model_validate(event)).model_dump()
