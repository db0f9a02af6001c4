"""API Gateway REQUEST authorizer: Bearer API key → account id."""

from typing import Any

from batchcalls.api.authorizer import authorize
from batchcalls.observability import instrumented


@instrumented
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return authorize(event)
