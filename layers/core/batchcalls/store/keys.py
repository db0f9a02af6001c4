"""Key shapes of the single table (see docs/architecture.md, "Table")."""

from __future__ import annotations

import zlib

DUE_SHARDS = 4


def account_pk(account_id: str) -> str:
    return f"ACCOUNT#{account_id}"


def batch_pk(batch_id: str) -> str:
    return f"BATCH#{batch_id}"


BATCH_META = "META"
IMPORT_REPORT = "IMPORT"  # the report of an uploaded file's import, beside the batch's META
PROFILE = "PROFILE"
CREDITS = "CREDITS"
SLOTS = "SLOTS"


def ledger_sk(at_iso: str, ref: str) -> str:
    return f"LEDGER#{at_iso}#{ref}"


LEDGER_PREFIX = "LEDGER#"


def credit_ref_sk(ref: str) -> str:
    """Marks a credit (top-up) ref as applied, so a retried top-up is applied once."""
    return f"CREDITREF#{ref}"


PACE = "PACE"


def dnc_sk(e164: str) -> str:
    """A number on the account's suppression (do-not-call) list."""
    return f"DNC#{e164}"


DNC_PREFIX = "DNC#"


def number_sk(e164: str) -> str:
    return f"NUMBER#{e164}"


NUMBER_PREFIX = "NUMBER#"


def agent_sk(agent_id: str) -> str:
    """One of the account's voice agents."""
    return f"AGENT#{agent_id}"


AGENT_PREFIX = "AGENT#"


def api_key_pk(key_hash: str) -> str:
    return f"APIKEY#{key_hash}"


def call_pk(call_id: str) -> str:
    return f"CALL#{call_id}"


def owner_gsi_pk(account_id: str) -> str:
    return f"OWNER#{account_id}"


def parent_gsi_pk(parent_batch_id: str) -> str:
    return f"PARENT#{parent_batch_id}"


def due_shard(batch_id: str) -> str:
    # Spread the due index over a few partitions so no single key is hot.
    return f"DUE#{zlib.crc32(batch_id.encode()) % DUE_SHARDS}"


def all_due_shards() -> list[str]:
    return [f"DUE#{n}" for n in range(DUE_SHARDS)]


def inflight_shard(batch_id: str, sk: str) -> str:
    """A recipient with a call in progress sits in the same sparse ``due`` index under its own
    shards, keyed by the time after which the stuck-call sweep reconciles it."""
    return f"INFLIGHT#{zlib.crc32(f'{batch_id}#{sk}'.encode()) % DUE_SHARDS}"


def all_inflight_shards() -> list[str]:
    return [f"INFLIGHT#{n}" for n in range(DUE_SHARDS)]


def account_key_sk(key_hash: str) -> str:
    """The account's own record of one of its API keys (listing and revoking by account)."""
    return f"APIKEY#{key_hash}"


ACCOUNT_KEY_PREFIX = "APIKEY#"


def event_sk(timestamp: str, event_id: str) -> str:
    """The account's event log, in event time."""
    return f"EVENT#{timestamp}#{event_id}"


EVENT_PREFIX = "EVENT#"


def webhook_sk(webhook_id: str) -> str:
    return f"WEBHOOK#{webhook_id}"


WEBHOOK_PREFIX = "WEBHOOK#"
WEBHOOK_COUNT = "WEBHOOK_COUNT"  # how many endpoints the account has (a create checks its limit)


def webhook_slots_sk(webhook_id: str) -> str:
    """The endpoint's delivery semaphore (like the account's call slots, SLOTS)."""
    return f"WEBHOOK_SLOTS#{webhook_id}"


def webhook_pk(webhook_id: str) -> str:
    """An endpoint's deliveries live under it, newest last by id."""
    return f"WEBHOOK#{webhook_id}"


def delivery_sk(delivery_id: str) -> str:
    return f"DELIVERY#{delivery_id}"


DELIVERY_PREFIX = "DELIVERY#"
