"""Throughput and memory of the CSV import (parse + validate + normalise), on one core.

It builds N rows in memory (US numbers in several spellings, about 3 % invalid, 5 %
duplicates written differently, a time zone on some rows, two variable columns) and times:

* ``parse_csv(bytes)``: the whole report, as the upload endpoint would build it;
* ``iter_rows`` over 64 KiB chunks, keeping nothing (the streaming path);
* ``to_e164`` alone on the same numbers: the floor set by ``phonenumbers``.

Then, in separate runs under ``tracemalloc`` (which slows them down), the peak of Python
allocations of each path, and the process's peak RSS (ru_maxrss, including the input).

``--limits`` measures the hardening of issue 11 instead: ``parse_csv`` on one row whose last
field is 4,000, 16,000 and 100,000 characters long with no final line break (the old line
pattern made that quadratic: 0.07 s, 1.2 s and ~45-60 s), and a 5 MB ``recipients_csv`` of
384,614 short rows, refused at its 10,001st row (time and tracemalloc peak; the whole list
used to be parsed first: ~26 s and ~900 MiB).

    PYTHONPATH=layers/core:. python -m bench.csv_import [--rows 100000] [--repeat 3] [--limits]
"""

from __future__ import annotations

import argparse
import csv
import io
import random
import resource
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import partial
from typing import Any

from batchcalls.domain.csv_import import CsvRecipient, iter_rows, parse_csv
from batchcalls.domain.phone import InvalidPhoneNumber, to_e164

AREA_CODES = (212, 213, 305, 312, 404, 415, 503, 512, 617, 646, 702, 718, 720, 808, 917)
ZONES = ("America/New_York", "America/Chicago", "America/Los_Angeles", "")
INVALID = ("12345", "not a number", "+1 555 0100", "", "+999 1234")


def spell(area: int, exchange: int, line: int, style: int) -> str:
    if style == 0:
        return f"+1{area}{exchange}{line:04d}"
    if style == 1:
        return f"({area}) {exchange}-{line:04d}"
    if style == 2:
        return f"{area}.{exchange}.{line:04d}"
    return f"1-{area}-{exchange}-{line:04d}"


def build(rows: int, seed: int = 7) -> tuple[bytes, list[str]]:
    """The file and the raw phone values in it, in order."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["Name", "Phone Number", "Timezone", "Account ID", "Notes"])
    raws: list[str] = []
    numbers: list[tuple[int, int, int]] = []
    for i in range(rows):
        roll = rng.random()
        if roll < 0.03:
            raw = rng.choice(INVALID)
        elif roll < 0.08 and numbers:
            raw = spell(*rng.choice(numbers), style=rng.randrange(4))  # a duplicate
        else:
            number = (AREA_CODES[i % len(AREA_CODES)], 200 + (i // 10_000) % 800, i % 10_000)
            numbers.append(number)
            raw = spell(*number, style=rng.randrange(4))
        raws.append(raw)
        notes = rng.choice(["", "VIP", 'said "call back", after 5pm', "line one\nline two"])
        writer.writerow([f"Person {i}", raw, rng.choice(ZONES), f"A-{i:07d}", notes])
    return out.getvalue().encode("utf-8"), raws


def chunks(data: bytes, size: int = 64 * 1024) -> Any:
    view = memoryview(data)
    return (view[i : i + size] for i in range(0, len(view), size))


def stream(data: bytes) -> int:
    return sum(1 for result in iter_rows(chunks(data)) if type(result) is CsvRecipient)


def phonenumbers_only(raws: list[str]) -> int:
    good = 0
    for raw in raws:
        try:
            to_e164(raw)
            good += 1
        except InvalidPhoneNumber:
            pass
    return good


def best_time(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """The best wall-clock and the best CPU time of ``repeat`` runs (CPU time is the steadier
    one on a shared machine)."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu


def traced_peak(fn: Callable[[], Any]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def max_rss_bytes() -> int:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss if sys.platform == "darwin" else rss * 1024


def long_field(chars: int) -> str:
    return "phone,note\n+14155550123," + "x" * chars


def big_request_csv(rows: int = 384_614) -> str:
    """About 5 M characters of distinct valid numbers: the most a create request takes."""
    numbers = (
        f"+1{AREA_CODES[i % len(AREA_CODES)]}{200 + i // 10_000}{i % 10_000:04d}\n" for i in range(rows)
    )
    return "phone\n" + "".join(numbers)


def refuse(text: str) -> str:
    # Imported here: the row benchmark above needs no services.
    from batchcalls.domain.errors import InvalidRequest
    from batchcalls.models.api import BatchSpec
    from batchcalls.services.recipient_list import recipient_list

    request = BatchSpec(name="bench", caller_id="+16045551234", recipients_csv=text)
    try:
        recipient_list(request, "bench", "now", "US", max_csv_rows=10_000)
    except InvalidRequest as exc:
        return exc.message
    return "accepted"


def limits(repeat: int) -> None:
    print("one row, its last field long, no final line break (parse_csv, best cpu):")
    for chars in (4_000, 16_000, 100_000):
        _, cpu = best_time(partial(parse_csv, long_field(chars)), repeat)
        print(f"  {chars:>7,} characters   {cpu * 1000:9.3f} ms")
    text = big_request_csv()
    wall, cpu = best_time(lambda: refuse(text), repeat)
    peak = traced_peak(lambda: refuse(text))
    print(f"a {len(text) / 1e6:.1f} M-character recipients_csv: {refuse(text)!r}")
    print(f"  refused in {cpu:.3f} s cpu ({wall:.3f} s wall), tracemalloc peak {peak / 1024 / 1024:.1f} MiB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best is reported")
    parser.add_argument("--limits", action="store_true", help="long fields and the request's row cap")
    args = parser.parse_args()
    if args.limits:
        limits(args.repeat)
        return
    mib = 1024 * 1024

    rss_before = max_rss_bytes()
    data, raws = build(args.rows)
    report = parse_csv(data)
    print(f"input: {args.rows:,} rows, {len(data) / mib:.1f} MiB")
    print(
        f"  → {len(report.recipients):,} recipients, {report.invalid_rows:,} invalid, "
        f"{report.duplicate_rows:,} duplicates (total_rows {report.total_rows:,})"
    )
    assert report.total_rows == args.rows

    timings = {
        "parse_csv(bytes)": best_time(lambda: parse_csv(data), args.repeat),
        "iter_rows(chunks), streaming": best_time(lambda: stream(data), args.repeat),
        "to_e164 only (the floor)": best_time(lambda: phonenumbers_only(raws), args.repeat),
    }
    print(f"time, best of {args.repeat}:{'wall':>21}{'rows/s':>12}{'cpu':>10}{'rows/s':>12}")
    for label, (wall, cpu) in timings.items():
        print(
            f"  {label:<30} {wall:7.3f} s {args.rows / wall:>11,.0f} {cpu:7.3f} s {args.rows / cpu:>11,.0f}"
        )
    overhead = timings["parse_csv(bytes)"][1] - timings["to_e164 only (the floor)"][1]
    print(f"  CSV + checks beyond to_e164 (cpu): {overhead / args.rows * 1e6:.1f} µs/row")

    rss_timed = max_rss_bytes()
    print("peak memory (tracemalloc; the input itself is allocated before tracing):")
    print(f"  parse_csv(bytes)                {traced_peak(lambda: parse_csv(data)) / mib:7.1f} MiB")
    print(f"  iter_rows(chunks), streaming    {traced_peak(lambda: stream(data)) / mib:7.1f} MiB")
    print(
        f"ru_maxrss: {rss_timed / mib:.1f} MiB after the timed runs "
        f"({rss_before / mib:.1f} MiB at start, before the input was built)"
    )


if __name__ == "__main__":
    main()
