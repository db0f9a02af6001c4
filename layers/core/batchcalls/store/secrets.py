"""Secrets Manager reads (the stack's agent-URL signing key)."""

from __future__ import annotations

from typing import Any


def secret_value(client: Any, secret_id: str) -> str:
    """The secret's current string value, through Powertools (which raises a
    ``GetParameterError`` naming the secret when it cannot be read). Not cached here: the
    context reads it once per container."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return str(SecretsProvider(boto3_client=client).get(secret_id))
