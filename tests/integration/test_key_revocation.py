"""A revoked API key is refused by the authorizer's lookup at once (moto's DynamoDB)."""

from __future__ import annotations

import uuid

import pytest

from batchcalls.api.authorizer import authorize
from batchcalls.services.auth import account_for_authorization, hash_api_key
from batchcalls.services.context import Context, get_context

METHOD_ARN = "arn:aws:execute-api:us-east-1:123456789012:api/v1/POST/batch-calls"


def test_a_revoked_key_is_refused_right_after_the_revoke(ctx: Context) -> None:
    key = f"bck_{uuid.uuid4().hex}"
    account_id = f"acct-{uuid.uuid4().hex[:8]}"
    assert ctx.accounts.put_api_key(hash_api_key(key), account_id, "test", ctx.now_iso(), new=True)
    assert account_for_authorization(ctx, f"Bearer {key}") == account_id

    assert ctx.accounts.revoke_api_key(hash_api_key(key), ctx.now_iso()) is not None
    assert account_for_authorization(ctx, f"Bearer {key}") is None


def test_the_authorizer_answers_a_revoked_key_unauthorized(ctx: Context) -> None:
    key = f"bck_{uuid.uuid4().hex}"
    ctx.accounts.put_api_key(hash_api_key(key), "acct-revoked", "test", ctx.now_iso(), new=True)
    event = {"type": "REQUEST", "methodArn": METHOD_ARN, "headers": {"Authorization": f"Bearer {key}"}}
    assert authorize(event)["principalId"] == "acct-revoked"
    get_context().accounts.revoke_api_key(hash_api_key(key), ctx.now_iso())
    with pytest.raises(Exception, match=r"^Unauthorized$"):
        authorize(event)
