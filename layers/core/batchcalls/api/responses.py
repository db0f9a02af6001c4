"""JSON answers and the OpenAPI description of error answers, shared by the route modules."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.event_handler import Response, content_types
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from batchcalls.models.api import ErrorOut

_MEANING = {
    400: "Bad input: the sentence names the field and the problem; `details` lists every problem",
    401: "Missing or unknown API key",
    404: "No such batch in this account",
    409: "Not allowed in the batch's current status, or a conflicting retry",
}


def json_response(status: int, body: dict[str, Any]) -> Response[str]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body))


def error_responses(*statuses: int, **meanings: str) -> dict[int, OpenAPIResponse]:
    """``meanings``: ``e404="No such endpoint"`` overrides a status's usual sentence."""
    return {
        status: {
            "description": meanings.get(f"e{status}", _MEANING[status]),
            "content": {"application/json": {"model": ErrorOut}},
        }
        for status in statuses
    }
