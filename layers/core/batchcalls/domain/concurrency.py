"""How many calls a batch may have in progress at once."""

from __future__ import annotations


def batch_slots(account_max: int, reserved: int, batch_max: int | None = None) -> int:
    """``account_max − reserved`` (reserved slots stay free for inbound and other calls),
    capped by the batch's own ``max_concurrency`` when given; never below 1."""
    slots = account_max - reserved
    if batch_max is not None:
        slots = min(slots, batch_max)
    return max(1, slots)
