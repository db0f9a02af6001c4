"""API keys: stored as SHA-256 hashes, mapped to the account id by the authorizer.

The key is read consistently, so a revoke counts from the next authorizer call; API Gateway
caches an answer per key for ``ReauthorizeEvery`` (60 s in template.yaml), so a revoked key
stops working within 60 s."""

from __future__ import annotations

import hashlib

from batchcalls.services.context import Context


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def account_for_authorization(ctx: Context, authorization: str | None) -> str | None:
    token = bearer_token(authorization)
    if token is None:
        return None
    return ctx.accounts.account_id_for_key(hash_api_key(token))
