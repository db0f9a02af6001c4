"""The provider's status webhook (API Gateway → the ``call_status`` Lambda), not behind the
API key: the provider's signature is checked instead."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import parse_qsl

from batchcalls.api.errors import error_body, status_for
from batchcalls.domain.errors import DomainError, InvalidRequest
from batchcalls.services.call_status import apply_call_status
from batchcalls.services.callbacks import STATUS_CALLBACK_PATH
from batchcalls.services.context import get_context


def public_base_url(event: dict[str, Any], headers: dict[str, str]) -> str:
    """The base URL the provider called: scheme + host + the path before our route.

    ``requestContext.path`` includes the stage (or a custom domain's base path), so this is
    the same base the dialer put into the callback URL it gave the provider.
    """
    proto = headers.get("x-forwarded-proto", "https")
    host = headers.get("host", "")
    full_path = (event.get("requestContext") or {}).get("path") or event.get("path") or ""
    prefix = full_path[: -len(STATUS_CALLBACK_PATH)] if full_path.endswith(STATUS_CALLBACK_PATH) else ""
    return f"{proto}://{host}{prefix}"


def handle_status_callback(event: dict[str, Any]) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(body).decode()
        except ValueError:  # not base64, or not UTF-8 (UnicodeDecodeError is a ValueError)
            return _error(InvalidRequest("The callback body is not form-encoded UTF-8 text"))
    form = dict(parse_qsl(body, keep_blank_values=True))
    query = event.get("queryStringParameters") or {}
    try:
        outcome = apply_call_status(
            get_context(),
            public_base_url(event, headers),
            query,
            form,
            headers.get("x-twilio-signature", ""),
        )
    except DomainError as error:
        return _error(error)
    return {"statusCode": 204, "headers": {"X-Outcome": outcome}, "body": ""}


def _error(error: DomainError) -> dict[str, Any]:
    return {
        "statusCode": status_for(error),
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps(error_body(error)),
    }
