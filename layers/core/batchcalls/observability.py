"""Logging shared by every function (Powertools structured JSON logs)."""

from __future__ import annotations

from functools import lru_cache

from aws_lambda_powertools import Logger


@lru_cache(maxsize=1)
def logger() -> Logger:
    return Logger(service="batchcalls")
