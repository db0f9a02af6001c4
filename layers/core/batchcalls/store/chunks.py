"""Requests that carry several entries have two limits: a count and a total size."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")


def sized_chunks(entries: Sequence[tuple[T, int]], max_count: int, max_bytes: int) -> Iterator[list[T]]:
    """``entries`` (each with its size in bytes) in order, in chunks within both limits; an
    entry bigger than ``max_bytes`` goes alone (the service then refuses it, naming it)."""
    chunk: list[T] = []
    size = 0
    for entry, entry_size in entries:
        if chunk and (len(chunk) == max_count or size + entry_size > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(entry)
        size += entry_size
    if chunk:
        yield chunk
