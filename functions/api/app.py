"""API Gateway → the batch-calls actions and read routes."""

from typing import Any

from batchcalls.api.routes import handle
from batchcalls.observability import instrumented


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(event, context)
