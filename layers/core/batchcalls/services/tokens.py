"""Answering a Map child's task token."""

from __future__ import annotations

from batchcalls.models.messages import DialOutcome
from batchcalls.services.context import Context


def answer_task(ctx: Context, token: str | None, outcome: DialOutcome) -> None:
    """Hand the outcome to the Map child waiting on ``token``, if any. A token that timed out or
    was answered already is no error: the child has moved on."""
    if token:
        ctx.executions.answer_task(token, outcome)
