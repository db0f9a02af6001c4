"""Entries of a batched request, chunked within its count and its total size."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from batchcalls.store.chunks import sized_chunks


@given(
    sizes=st.lists(st.integers(1, 300), max_size=60),
    max_count=st.integers(1, 10),
    max_bytes=st.integers(1, 1000),
)
def test_chunks_keep_the_order_and_both_limits(sizes: list[int], max_count: int, max_bytes: int) -> None:
    chunks = list(sized_chunks([(n, size) for n, size in enumerate(sizes)], max_count, max_bytes))
    assert [n for chunk in chunks for n in chunk] == list(range(len(sizes)))
    for chunk in chunks:
        assert 1 <= len(chunk) <= max_count
        # Over the size only when one entry alone is bigger than it.
        assert sum(sizes[n] for n in chunk) <= max_bytes or len(chunk) == 1
