"""``Idempotency-Key`` on create: the first response is returned again for the same key and
body (one batch is created); the same key with another body is a conflict.

Powertools' idempotency utility does the bookkeeping (in-progress lock, stored response,
payload validation, expiry) so a retried request after a timeout never creates a second batch.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyItemAlreadyExistsError,
    IdempotencyValidationError,
)

from batchcalls.domain.errors import Conflict, InvalidRequest
from batchcalls.services.context import Context

KEY_HEADER = "Idempotency-Key"
EXPIRES_AFTER_SECONDS = 24 * 3600

_CONFIG = IdempotencyConfig(
    event_key_jmespath="[account_id, key]",
    payload_validation_jmespath="body",
    expires_after_seconds=EXPIRES_AFTER_SECONDS,
    raise_on_no_idempotency_key=True,
)


def run_once(
    ctx: Context, account_id: str, key: str, body: dict[str, Any], work: Callable[[], dict[str, Any]]
) -> dict[str, Any]:
    """``work``'s answer, or the one it gave the first time. A dict, not a model, at this
    boundary: Powertools stores the JSON body api/ made and replays it as a dict."""
    if not key or len(key) > 255:
        raise InvalidRequest(
            f"{KEY_HEADER} must be 1–255 characters", [{"field": KEY_HEADER, "message": "1–255 characters"}]
        )

    @idempotent_function(data_keyword_argument="request", persistence_store=ctx.idempotency, config=_CONFIG)
    def once(request: dict[str, Any]) -> dict[str, Any]:
        return work()

    try:
        result: dict[str, Any] = once(request={"account_id": account_id, "key": key, "body": body})
    except IdempotencyValidationError as exc:
        raise Conflict(f"{KEY_HEADER} '{key}' was already used with a different request body") from exc
    except (
        IdempotencyAlreadyInProgressError,
        IdempotencyInconsistentStateError,
        IdempotencyItemAlreadyExistsError,
    ) as exc:
        # Another request with this key is running (or just changed its record).
        raise Conflict(f"A request with {KEY_HEADER} '{key}' is still in progress; retry shortly") from exc
    return result


def register_lambda_context(context: Any) -> None:
    """Lets an in-progress record expire with the invocation (a crashed create can be retried)."""
    if context is not None:
        _CONFIG.register_lambda_context(context)
