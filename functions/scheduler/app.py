"""EventBridge schedule (every minute): due starts, next passes."""

from typing import Any

from batchcalls.observability import instrumented
from batchcalls.services.context import get_context
from batchcalls.services.tick import tick


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return tick(get_context())
