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


@cache
def presigning_client(service: str, endpoint_url: str | None) -> Any:
    """A client that only signs URLs for users to call: for ``endpoint_url`` when the users
    reach AWS somewhere else than the functions do (the offline stack's local endpoint), with
    path-style S3 addressing, which any host name accepts."""
    if not endpoint_url:
        return client(service)
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        config=_CONFIG.merge(Config(s3={"addressing_style": "path"}, signature_version="s3v4")),
    )


def session_client(session: boto3.session.Session, service: str, endpoint_url: str | None = None) -> Any:
    """An uncached client with the same settings from an explicit session and endpoint (the
    operator's tools, which pick credentials, region and endpoint from their command line).
    ``endpoint_url=None`` leaves boto3 its own choice, which honours ``AWS_ENDPOINT_URL``."""
    return session.client(service, endpoint_url=endpoint_url, config=_CONFIG)


def reset_clients() -> None:
    """Forget cached clients (tests that start a fresh moto backend call this)."""
    client.cache_clear()
    presigning_client.cache_clear()
