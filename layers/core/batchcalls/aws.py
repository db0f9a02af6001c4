"""Cached boto3 clients. The only way code gets an AWS client, so tests can replace them."""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 4})


@cache
def client(service: str) -> Any:
    return boto3.client(service, config=_CONFIG)


def reset_clients() -> None:
    """Forget cached clients (tests that start a fresh moto backend call this)."""
    client.cache_clear()
