"""The REQUEST authorizer: ``Authorization: Bearer <key>`` → the account id (or 401)."""

from __future__ import annotations

from typing import Any

from batchcalls.services.auth import account_for_authorization
from batchcalls.services.context import get_context


def _header(event: dict[str, Any], name: str) -> str | None:
    for key, value in (event.get("headers") or {}).items():
        if key.lower() == name.lower():
            return str(value)
    return None


def authorize(event: dict[str, Any]) -> dict[str, Any]:
    account_id = account_for_authorization(get_context(), _header(event, "Authorization"))
    if account_id is None:
        # API Gateway turns this exact message into a 401 (the UNAUTHORIZED gateway response).
        raise Exception("Unauthorized")
    # Allow every route of this API stage so a cached policy serves all of them.
    arn_parts = event["methodArn"].split(":")
    api_id, stage = arn_parts[5].split("/")[:2]
    resource = ":".join(arn_parts[:5]) + f":{api_id}/{stage}/*"
    return {
        "principalId": account_id,
        "policyDocument": {
            "Version": "2012-10-17",
            "Statement": [{"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": resource}],
        },
        "context": {"account_id": account_id},
    }
