"""The account-wide concurrency semaphore against moto's DynamoDB."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from batchcalls.services.context import Context
from batchcalls.store.slots import SlotStore


@pytest.fixture
def store(ctx: Context) -> SlotStore:
    return ctx.slots


def test_never_more_holders_than_the_limit_under_contention(store: SlotStore) -> None:
    with ThreadPoolExecutor(16) as pool:
        won = list(pool.map(lambda i: store.acquire("race", f"h{i}", 10, 2_000_000_000, 1_000), range(50)))
    assert won.count(True) == 10
    assert len(store.holders("race") or {}) == 10


def test_release_frees_a_slot_and_is_idempotent(store: SlotStore) -> None:
    assert store.acquire("rel", "a", 1, 2_000_000_000, 1_000)
    assert not store.acquire("rel", "b", 1, 2_000_000_000, 1_000)
    store.release("rel", "a")
    store.release("rel", "a")
    assert store.acquire("rel", "b", 1, 2_000_000_000, 1_000)
    assert store.holders("rel") == {"b": 2_000_000_000}


def test_a_dead_holders_lease_is_swept_and_its_slot_reused(store: SlotStore) -> None:
    # A dialer took the only slot, then died before its call (lease until t=1,500).
    assert store.acquire("dead", "dialer-killed", 1, 1_500, 1_000)
    assert not store.acquire("dead", "next", 1, 5_000, 1_400)  # lease still running
    assert store.acquire("dead", "next", 1, 5_000, 1_600)  # lease over: swept, slot reused
    assert store.holders("dead") == {"next": 5_000}


def test_a_slot_taken_counts_the_calls_in_progress_with_it(ctx: Context) -> None:
    store = ctx.slots
    assert store.acquire_counted("counted", "a", 3, 2_000_000_000, 1_000) == 1
    assert store.acquire_counted("counted", "b", 3, 2_000_000_000, 1_000) == 2
    assert store.acquire_counted("counted", "b", 3, 2_000_000_000, 1_000) == 2  # the same holder again
    assert store.acquire_counted("counted", "c", 3, 2_000_000_000, 1_000) == 3
    assert store.acquire_counted("counted", "d", 3, 2_000_000_000, 1_000) == 0
