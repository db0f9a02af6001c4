"""Answering a Map child's task token."""

from __future__ import annotations

import json

from batchcalls.models.messages import DialOutcome
from batchcalls.services.context import Context

# A token that timed out or was already answered: the child has moved on, nothing to do.
_CLOSED = ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist")


def answer_task(ctx: Context, token: str | None, outcome: DialOutcome) -> None:
    if not token:
        return
    try:
        ctx.sfn.send_task_success(taskToken=token, output=json.dumps(outcome.model_dump()))
    except Exception as exc:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
        if code not in _CLOSED:
            raise
