"""Automatic redial: which outcomes are tried again, how often, and when."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RetryableOutcome = Literal["busy", "no_answer", "failed"]


def _default_outcomes() -> list[RetryableOutcome]:
    return ["busy", "no_answer"]


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    on: list[RetryableOutcome] = Field(default_factory=_default_outcomes, min_length=1)
    # Attempts in total, the first one included: 3 = the first call and up to two redials.
    max_attempts: int = Field(default=3, ge=1, le=10)
    delay_minutes: int = Field(default=30, ge=0, le=7 * 24 * 60)


def should_retry(policy: RetryPolicy | None, outcome: str, attempts_made: int) -> bool:
    return policy is not None and outcome in policy.on and attempts_made < policy.max_attempts


def next_attempt_at(policy: RetryPolicy, ended_at: datetime) -> datetime:
    """The earliest time of the redial (the call window may push it later)."""
    return ended_at + timedelta(minutes=policy.delay_minutes)
