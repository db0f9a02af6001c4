"""Provider status callbacks (signed webhooks) → recipient statuses."""

from typing import Any

from batchcalls.api.webhook import handle_status_callback
from batchcalls.observability import instrumented


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle_status_callback(event)
