"""Recipient files end to end: the S3 upload import, the CSV export, and the streaming parse
of a 1,000,000-row file (the "a million rows on a 512 MB Lambda" claim).

First, in a fresh process (spawned before this one grows, so that its ru_maxrss is its own,
without moto's tables), it streams a generated --big-rows file through ``iter_rows`` in 1 MiB
chunks made lazily (the file is never whole in memory), without DynamoDB: the "a million rows
on a 512 MB Lambda" claim. Duplicate detection keeps every distinct number seen, so that
memory grows with the file.

Then, on the offline stack (moto in-process, no HTTP; the import queue's poller stopped so
that nothing races the import being timed), it

* imports an uploaded file of N valid, distinct rows by the default path (``skip_invalid:
  false``: a validation pass, then the writing pass), and times the validation pass alone
  over the same S3 object (what the default path costs in addition);
* exports that N-recipient batch (``export_batch``) and reads the CSV's size in S3 — before
  anything else is imported, because moto reads and sorts the whole table for every Query
  page, so the export's time depends on the table's size;
* imports an N-row file like ``bench.csv_import``'s (about 3 % invalid rows, 5 % duplicates)
  with ``skip_invalid: true`` (one pass over the file);
* imports both files again under tracemalloc, for the memory.

Times are those of runs without tracemalloc: wall-clock, and the process's CPU time split
into the part inside moto (every mocked AWS request, timed in CPU time of the calling thread)
and the rest, which is our code and the boto3 client, i.e. what a Lambda would spend too
(the machine may be shared: CPU time is the steadier number). The peaks of Python
allocations come from separate runs under tracemalloc (which slows them down several times).
Imports and exports go through moto's in-memory DynamoDB in this very process, so their
peaks and ru_maxrss include moto's copy of the items and its per-request work: "retained" is
what was still allocated when the run ended (moto's new items; after an export, copies moto
keeps of what it returned), peak − retained the transient working set (still including
moto's). ru_maxrss is the process's high-water mark so far (it never goes down).

    PYTHONPATH=layers/core:. python -m bench.recipient_files [--rows 100000]
        [--big-rows 1000000] [--skip-big] [--profile]

(--profile prints cProfile tables of the main thread; the import's writes run in a pool of
threads it does not see.)
"""

from __future__ import annotations

import argparse
import concurrent.futures
import cProfile
import csv
import io
import logging
import multiprocessing
import pstats
import random
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from batchcalls.domain.csv_import import CsvRecipient, DuplicateRow, RowError, iter_rows
from batchcalls.domain.phone import InvalidPhoneNumber, to_e164
from bench.csv_import import AREA_CODES, INVALID, ZONES, build, max_rss_bytes, spell

MIB = 1024 * 1024
CHUNK = 1 << 20  # what FileStore.chunks reads an S3 body in
T = TypeVar("T")


# -- measuring ---------------------------------------------------------------------------------


@dataclass
class Traced:
    peak: int  # bytes, the high-water mark of Python allocations during the run
    retained: int  # bytes still allocated when it ended


def timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def traced(fn: Callable[[], T]) -> tuple[T, float, Traced]:
    tracemalloc.start()
    try:
        start = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - start
        current, peak = tracemalloc.get_traced_memory()
        return result, elapsed, Traced(peak, current)
    finally:
        tracemalloc.stop()


def profiled(fn: Callable[[], T], label: str, top: int = 25) -> T:
    profile = cProfile.Profile()
    result = profile.runcall(fn)
    print(f"\n--- cProfile of {label}: top {top} by cumulative time ---")
    pstats.Stats(profile).sort_stats("cumulative").print_stats(top)
    print(f"--- top {top} by own time ---")
    pstats.Stats(profile).sort_stats("tottime").print_stats(top)
    return result


# -- inputs -----------------------------------------------------------------------------------


def clean_file(rows: int) -> bytes:
    """``rows`` rows of ``bench.csv_import``'s kind with only valid, distinct numbers (so the
    default path imports all of them: one invalid row would fail the whole file)."""
    data, _ = build(rows + rows // 10 + 100, seed=11)
    reader = csv.reader(io.StringIO(data.decode("utf-8"), newline=""))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(next(reader))
    seen: set[str] = set()
    kept = 0
    for fields in reader:
        try:
            e164 = to_e164(fields[1])
        except InvalidPhoneNumber:
            continue
        if e164 in seen:
            continue
        seen.add(e164)
        writer.writerow(fields)
        kept += 1
        if kept == rows:
            return out.getvalue().encode("utf-8")
    raise AssertionError(f"only {kept} clean rows")


def lazy_chunks(rows: int, seed: int = 7, size: int = CHUNK) -> Iterator[bytes]:
    """A file like ``bench.csv_import.build``'s, made row by row and handed out in chunks of
    exactly ``size`` bytes (the last one shorter): only a chunk or two is ever in memory. A
    duplicate repeats the number of a random earlier row (recomputed from its index, so no
    list of numbers is kept)."""
    rng = random.Random(seed)
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(["Name", "Phone Number", "Timezone", "Account ID", "Notes"])
    pending = bytearray()

    def number(i: int) -> tuple[int, int, int]:
        return AREA_CODES[i % len(AREA_CODES)], 200 + (i // 10_000) % 800, i % 10_000

    for i in range(rows):
        roll = rng.random()
        if roll < 0.03:
            raw = rng.choice(INVALID)
        elif roll < 0.08 and i:
            raw = spell(*number(rng.randrange(i)), style=rng.randrange(4))
        else:
            raw = spell(*number(i), style=rng.randrange(4))
        notes = rng.choice(["", "VIP", 'said "call back", after 5pm', "line one\nline two"])
        writer.writerow([f"Person {i}", raw, rng.choice(ZONES), f"A-{i:07d}", notes])
        if text.tell() >= 64 * 1024:
            pending += text.getvalue().encode("utf-8")
            text.seek(0)
            text.truncate()
            while len(pending) >= size:
                yield bytes(pending[:size])
                del pending[:size]
    pending += text.getvalue().encode("utf-8")
    while pending:
        yield bytes(pending[:size])
        del pending[:size]


# -- 3. the big file, in its own process ---------------------------------------------------------


def count_results(chunks: Iterator[bytes]) -> Counter[str]:
    counts: Counter[str] = Counter()
    last_error_row = 0
    for result in iter_rows(chunks):
        if type(result) is CsvRecipient:
            counts["recipients"] += 1
        elif type(result) is DuplicateRow:
            counts["duplicates"] += 1
        elif type(result) is RowError and result.row != last_error_row:
            counts["invalid"] += 1
            last_error_row = result.row
    return counts


def big_stream(rows: int) -> dict[str, Any]:
    """Runs in a spawned process: its ru_maxrss is this work's (plus the interpreter and
    the imports), not the offline stack's."""
    rss_start = max_rss_bytes()
    generated, gen_time = timed(lambda: sum(len(c) for c in lazy_chunks(rows)))
    counts, untraced_time = timed(lambda: count_results(lazy_chunks(rows)))
    rss_untraced = max_rss_bytes()
    traced_counts, traced_time, memory = traced(lambda: count_results(lazy_chunks(rows)))
    assert traced_counts == counts
    return {
        "bytes": generated,
        "gen_time": gen_time,
        "time": untraced_time,
        "traced_time": traced_time,
        "counts": dict(counts),
        "peak": memory.peak,
        "rss_start": rss_start,
        "rss_untraced": rss_untraced,
        "rss_end": max_rss_bytes(),
    }


def report_big(rows: int) -> None:
    print(f"\nstreaming parse of {rows:,} rows (iter_rows over lazy 1 MiB chunks, no DynamoDB)")
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
        r = pool.submit(big_stream, rows).result()
    counts = r["counts"]
    parse_time = r["time"] - r["gen_time"]
    print(
        f"  file {r['bytes'] / MIB:.1f} MiB: {counts.get('recipients', 0):,} recipients, "
        f"{counts.get('invalid', 0):,} invalid, {counts.get('duplicates', 0):,} duplicates"
    )
    print(
        f"  time {r['time']:.1f} s, {rows / r['time']:,.0f} rows/s "
        f"(of which generating the file {r['gen_time']:.1f} s; parsing alone "
        f"{parse_time:.1f} s, {rows / parse_time:,.0f} rows/s)"
    )
    distinct = counts.get("recipients", 0)
    print(
        f"  peak alloc {r['peak'] / MIB:.1f} MiB (tracemalloc, separate run of "
        f"{r['traced_time']:.1f} s) = {r['peak'] / MIB / (rows / 1e6):.1f} MiB per million rows, "
        f"{r['peak'] / max(distinct, 1):.0f} B per distinct number"
    )
    print(
        f"  maxrss {r['rss_untraced'] / MIB:.0f} MiB after the untraced run, "
        f"{r['rss_end'] / MIB:.0f} MiB after the traced one "
        f"(fresh process: {r['rss_start'] / MIB:.0f} MiB before any work)"
    )


# -- the offline stack ------------------------------------------------------------------------------

_MOTO_CPU = [0.0]  # CPU seconds the calling threads spent inside moto (the mock AWS services)
_MOTO_LOCK = threading.Lock()


def count_moto_cpu() -> None:
    """Time every request moto serves in this process (all of them pass through
    ``BotocoreStubber``), in CPU time of the calling thread: the import writes from several
    threads, whose waits for the GIL and moto's lock must not count."""
    from moto.core.botocore_stubber import BotocoreStubber

    original = BotocoreStubber.__call__

    def call(self: Any, event_name: str, request: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return original(self, event_name, request, **kwargs)
        finally:
            spent = time.thread_time() - start
            with _MOTO_LOCK:
                _MOTO_CPU[0] += spent

    BotocoreStubber.__call__ = call  # type: ignore[method-assign]


@dataclass
class Run:
    result: Any
    wall: float
    cpu: float  # the whole process's CPU time (all threads)
    moto_cpu: float  # of which inside moto
    units: Counter[str]  # DynamoDB requests by operation (local.moto_tuning counts them)
    memory: Traced | None = None

    def times(self, rows: int) -> str:
        ours = self.cpu - self.moto_cpu
        return (
            f"{self.wall:.1f} s, {rows / self.wall:,.0f} rows/s; CPU {self.cpu:.1f} s, of which "
            f"moto {self.moto_cpu:.1f} s ({self.moto_cpu / self.cpu:.0%}) and the rest "
            f"(our code, boto3) {ours:.1f} s = {rows / ours:,.0f} rows/s"
        )


class Bench:
    def __init__(self, profile: bool) -> None:
        from local.stack import OfflineStack, StackOptions

        self.stack = OfflineStack(
            StackOptions(port=0, tick_seconds=3600, demo_calls_per_second=1000, aws_port=None)
        ).start()
        # Nothing else may import the uploads: the poller would race the import being timed.
        for poller in self.stack._pollers:
            poller.stop()
        count_moto_cpu()
        from batchcalls import aws
        from batchcalls.config import get_settings
        from batchcalls.services.context import Context
        from local.seed import DEMO_ACCOUNT_ID, DEMO_CALLER_ID

        self.ctx = Context(settings=get_settings())
        self.s3 = aws.client("s3")  # the bench puts and lists the files itself
        self.rss_started = max_rss_bytes()
        self.account_id = DEMO_ACCOUNT_ID
        self.caller_id = DEMO_CALLER_ID
        self.profile = profile

    def stop(self) -> None:
        self.stack.stop()

    def run(self, fn: Callable[[], Any], label: str, trace: bool) -> Run:
        from local import moto_tuning

        units = Counter(moto_tuning.REQUEST_UNITS)
        moto_start, cpu_start = _MOTO_CPU[0], time.process_time()
        memory = None
        if trace:
            result, wall, memory = traced(fn)
        elif self.profile:
            result, wall = timed(lambda: profiled(fn, label))
        else:
            result, wall = timed(fn)
        return Run(
            result,
            wall,
            time.process_time() - cpu_start,
            _MOTO_CPU[0] - moto_start,
            moto_tuning.REQUEST_UNITS - units,
            memory,
        )

    def table_items(self) -> int:
        table = self.ctx.db.describe_table(TableName=self.ctx.settings.table_name)["Table"]
        return int(table["ItemCount"])

    def upload(self, data: bytes, skip_invalid: bool, label: str) -> tuple[str, str]:
        """A draft batch waiting for its file, and the file put where the import reads it:
        (batch id, key)."""
        from batchcalls.models.api import UploadBatchRequest
        from batchcalls.services.uploads import create_upload
        from batchcalls.store.files import upload_key

        request = UploadBatchRequest(
            name=f"bench {label}", caller_id=self.caller_id, status="draft", skip_invalid=skip_invalid
        )
        batch_id = create_upload(self.ctx, self.account_id, request).batch.id
        key = upload_key(self.account_id, batch_id)
        self.s3.put_object(Bucket=self.ctx.settings.files_bucket, Key=key, Body=data, ContentType="text/csv")
        return batch_id, key

    def import_file(self, data: bytes, skip_invalid: bool, label: str, trace: bool) -> tuple[Run, Any]:
        from batchcalls.services.uploads import import_upload

        batch_id, key = self.upload(data, skip_invalid, label)
        run = self.run(lambda: import_upload(self.ctx, key), label, trace)
        batch = self.ctx.batches.get(batch_id)
        assert batch is not None
        if run.result != "completed":
            report = self.ctx.batches.import_report(batch_id)
            raise AssertionError(f"import of {label}: {run.result!r}, batch {batch!r}, report {report!r}")
        return run, batch

    def validation_pass(self, data: bytes) -> Run:
        """What the default path reads before it writes: ``_validate`` over the S3 object."""
        from batchcalls.services.uploads import _validate

        _, key = self.upload(data, False, "validation only")
        return self.run(lambda: _validate(self.ctx, key, "US"), "validation pass", trace=False)

    def export(self, batch_id: str, trace: bool) -> tuple[Run, int]:
        """The run and the size of the CSV it put in S3."""
        from batchcalls.services.export import export_batch

        run = self.run(lambda: export_batch(self.ctx, self.account_id, batch_id), "export", trace)
        listing = self.s3.list_objects_v2(
            Bucket=self.ctx.settings.files_bucket, Prefix=f"exports/{self.account_id}/{batch_id}/"
        )
        newest = max(listing["Contents"], key=lambda o: o["LastModified"])
        return run, int(newest["Size"])


def describe_import(rows: int, run: Run, batch: Any) -> None:
    print(f"  {rows:,} rows: {run.times(rows)}")
    print(
        f"    → {batch.total_recipients:,} recipients, {batch.duplicates_dropped:,} duplicates "
        f"dropped; {run.units['BatchWriteItem']:,} BatchWriteItem, "
        f"{run.units['BatchGetItem']:,} BatchGetItem, {run.units['UpdateItem']:,} UpdateItem; "
        f"{run.wall / max(batch.total_recipients, 1) * 1e6:,.0f} µs wall per recipient written; "
        f"maxrss {max_rss_bytes() / MIB:,.0f} MiB"
    )


def describe_memory(label: str, run: Run) -> None:
    memory = run.memory
    assert memory is not None
    print(
        f"  {label}: peak alloc {memory.peak / MIB:,.0f} MiB, retained {memory.retained / MIB:,.0f} MiB, "
        f"peak − retained {(memory.peak - memory.retained) / MIB:,.0f} MiB "
        f"(traced run {run.wall:.0f} s); maxrss {max_rss_bytes() / MIB:,.0f} MiB"
    )


def run_stack(args: argparse.Namespace) -> None:
    rows = args.rows
    mixed, _ = build(rows)
    clean = clean_file(rows)
    print(
        f"\ninputs: mixed file {rows:,} rows, {len(mixed) / MIB:.1f} MiB; "
        f"clean file {rows:,} rows, {len(clean) / MIB:.1f} MiB"
    )
    rss_inputs = max_rss_bytes()
    bench = Bench(args.profile)
    print(
        f"maxrss {rss_inputs / MIB:.0f} MiB with the inputs built, "
        f"{bench.rss_started / MIB:.0f} MiB with the offline stack started"
    )
    # The export first, while the table holds nothing but its batch: moto reads and sorts the
    # whole table for every Query page.
    try:
        print("\nimport, default path (skip_invalid=false: a validation pass, then the writing pass)")
        run, clean_batch = bench.import_file(clean, False, "clean default", trace=False)
        assert clean_batch.total_recipients == rows, clean_batch.total_recipients
        describe_import(rows, run, clean_batch)
        validation = bench.validation_pass(clean)
        assert validation.result.total_rows == rows
        print(f"    of which the validation pass (timed alone): {validation.times(rows)}")

        print(f"\nexport of that {rows:,}-recipient batch (export_batch → spooled CSV → S3)")
        items = bench.table_items()
        run, size = bench.export(clean_batch.id, trace=False)
        assert run.result["rows"] == rows, run.result["rows"]
        pages = max(run.units["Query"], 1)
        print(f"  {rows:,} rows: {run.times(rows)}")
        print(
            f"    → CSV {size / MIB:.1f} MiB in S3 ({size / rows:.0f} B/row); {pages:,} Query "
            f"pages of {rows / pages:,.0f} recipients, {run.wall / pages:.2f} s per page "
            f"({run.moto_cpu / pages:.2f} s of it in moto; the table holds {items:,} items)"
        )
        traced_export, _ = bench.export(clean_batch.id, trace=True)
        describe_memory("memory (a second export, traced)", traced_export)

        print("\nimport, skip_invalid=true (one pass; about 3 % invalid rows, 5 % duplicates)")
        run, batch = bench.import_file(mixed, True, "mixed skip_invalid", trace=False)
        assert batch.import_rows_read == rows, batch.import_rows_read
        describe_import(rows, run, batch)

        print("\nmemory of the imports (tracemalloc: the same files imported again into new batches)")
        traced_run, _ = bench.import_file(clean, False, "clean default (traced)", trace=True)
        describe_memory("default path", traced_run)
        traced_run, _ = bench.import_file(mixed, True, "mixed skip_invalid (traced)", trace=True)
        describe_memory("skip_invalid ", traced_run)
    finally:
        bench.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000, help="rows imported and exported")
    parser.add_argument("--big-rows", type=int, default=1_000_000, help="rows of the streamed file")
    parser.add_argument("--skip-big", action="store_true", help="leave out the streamed file")
    parser.add_argument(
        "--profile", action="store_true", help="cProfile the timed import and export runs (slower)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("moto").setLevel(logging.ERROR)  # "ToleratedFailurePercentage … no effect"

    if not args.skip_big:
        report_big(args.big_rows)  # first: its process is spawned before this one grows
    run_stack(args)


if __name__ == "__main__":
    main()
