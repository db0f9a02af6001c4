"""Recurring series: a parent (``recurring``) holds the recipients template and the rule;
each run is a child batch cloned from it at an anchored occurrence.

* The first run is spawned at create. When a run ends (completed, cancelled or failed) the
  parent becomes due and the scheduler's tick spawns the next run at the first occurrence at
  or after now (missed occurrences are skipped, never bunched; ``domain/recurrence.py``).
* A spawn is idempotent: the spawner first claims the occurrence on the parent
  (``recurrence_last_index`` moves only from the value it read), then makes the run, whose id
  (and its recipients' ids) derive from the parent and the occurrence index; the store writes
  a batch's META and recipients only where none exist. Two ticks at once, or a tick retried
  after a crash at any step, make one run per occurrence and never touch a run that exists.
* ``pause_series`` stops spawning (running runs go on), ``resume_series`` starts it again,
  ``cancel`` on the parent cancels it and every run that has not ended.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

from batchcalls.domain import recurrence as rules
from batchcalls.domain.clock import iso, parse_iso
from batchcalls.domain.errors import Conflict, InvalidRequest
from batchcalls.domain.lifecycle import FINAL, BatchAction, BatchStatus, PausedReason, next_status
from batchcalls.models.api import ActionResult
from batchcalls.models.domain import Batch, Recipient
from batchcalls.services.access import get_owned_batch
from batchcalls.services.context import Context
from batchcalls.services.runs import continue_run
from batchcalls.store.batches import SeriesClaim

B = BatchStatus
A = BatchAction

# While a run is still going the parent looks again this often (the run's end also makes it
# due at once, this is only the safety net).
RECHECK = timedelta(minutes=1)
# A claimed occurrence whose run was never made is made late by at most this much; older, it
# was missed (its series was paused meanwhile) and the series goes on to the next.
CLAIM_GRACE = timedelta(minutes=15)
ACTIVE_RUN = (B.DRAFT, B.SCHEDULED, B.RUNNING, B.PAUSED)


def recurrence_of(batch: Batch) -> rules.Recurrence | None:
    return rules.recurrence_from_fields(
        batch.recurrence_type,
        batch.recurrence_interval,
        batch.recurrence_max_runs,
        batch.recurrence_end_date,
    )


def is_series_parent(batch: Batch) -> bool:
    return batch.recurrence_type != "none" and batch.parent_batch_id is None


def child_id(parent_id: str, index: int) -> str:
    return str(uuid.uuid5(uuid.UUID(parent_id), f"run-{index}"))


def spawn_next(ctx: Context, parent: Batch) -> Batch | None:
    """Spawn the parent's next run if it is time; returns the new run, or None.

    Called at create (the first run) and by the tick when the parent is due. The occurrence is
    claimed on the parent first (``recurrence_last_index`` moves only from the value read) and
    the run is made after: of two spawners only the one that claimed makes a run, so two ticks
    that disagree about which occurrence is next can never make one each. A spawner that dies
    between the claim and the run leaves a claimed occurrence without its run; the next spawn
    makes it (the same id and recipients, written only where absent)."""
    rule = recurrence_of(parent)
    if rule is None or parent.status is not B.RECURRING or parent.recurrence_anchor_at is None:
        return None
    now = ctx.clock()
    anchor = parse_iso(parent.recurrence_anchor_at)
    if parent.recurrence_last_index >= 0:
        last = ctx.batches.get(child_id(parent.id, parent.recurrence_last_index))
        if last is None:  # claimed by a spawner that died (or the series paused) before the run
            at = rules.occurrence_at(rule, anchor, parent.timezone, parent.recurrence_last_index)
            if at >= now - CLAIM_GRACE:
                return _start(ctx, _create_child(ctx, parent, parent.recurrence_last_index, at))
            # Long past (a series paused meanwhile): missed, like any occurrence nobody ran.
        elif last.status in ACTIVE_RUN:
            _due(ctx, parent, iso(now + RECHECK))  # one run at a time: look again later
            return None
    upcoming = _upcoming(rule, parent, anchor, now)
    if upcoming is None:
        _complete(ctx, parent)
        return None
    # Due again in a minute: the safety net should the run's end not make it due (or should
    # this spawner die before the run below exists).
    claimed = ctx.batches.claim_occurrence(
        parent, upcoming.index, due_at=iso(max(now, upcoming.at) + RECHECK), now=ctx.now_iso()
    )
    if claimed is None:
        return None  # another spawner claimed this step of the series first
    return _start(ctx, _create_child(ctx, claimed, upcoming.index, upcoming.at))


def _upcoming(rule: rules.Recurrence, parent: Batch, anchor: datetime, now: datetime) -> rules.NextRun | None:
    if parent.recurrence_last_index < 0:
        return None if rules.has_ended(rule, 0, anchor) else rules.NextRun(index=0, at=anchor)
    return rules.next_run(
        rule,
        anchor,
        parent.timezone,
        last_index=parent.recurrence_last_index,
        runs_done=parent.recurrence_run_count,
        now=now,
    )


def _start(ctx: Context, child: Batch | None) -> Batch | None:
    if child is None:
        return None
    if child.status is B.RUNNING:
        continue_run(ctx, child)  # a second start of the same pass is a no-op
    return ctx.batches.get(child.id) or child


def _create_child(ctx: Context, parent: Batch, index: int, at: datetime) -> Batch | None:
    """The run of occurrence ``index``; None when the series stopped spawning since the claim."""
    run_id = child_id(parent.id, index)
    now = ctx.clock()
    now_iso = iso(now)
    starts_now = at <= now
    fields = parent.model_dump(
        exclude={
            "id",
            "status",
            "paused_reason",
            "failure_reason",
            "completed_count",
            "failed_count",
            "skipped_count",
            "created_at",
            "updated_at",
            "started_at",
            "completed_at",
            "cancelled_at",
            "recurrence_run_count",
            "recurrence_anchor_at",
            "recurrence_last_index",
            "run_number",
            "pass_number",
            "due_at",
            "scheduled_at",
            "send_now",
            "parent_batch_id",
            "occurrence_number",
            "duplicates_dropped",
            "suppressed_dropped",
            "resetting_statuses",
        }
    )
    child = Batch(
        **fields,
        id=run_id,
        status=B.RUNNING if starts_now else B.SCHEDULED,
        parent_batch_id=parent.id,
        occurrence_number=index + 1,
        send_now=starts_now,
        scheduled_at=None if starts_now else iso(at),
        created_at=now_iso,
        updated_at=now_iso,
        started_at=now_iso if starts_now else None,
        run_number=1 if starts_now else 0,
        # Due now when it starts now: should the pass below not start, the tick starts it.
        due_at=now_iso if starts_now else iso(at),
    )
    recipients = [
        Recipient(
            **template.model_dump(
                include={"seq", "phone_number", "name", "sort_order", "variables", "timezone"}
                & set(Recipient.model_fields)
            ),
            batch_id=run_id,
            id=str(uuid.uuid5(uuid.UUID(run_id), template.id)),
            updated_at=now_iso,
        )
        for template in ctx.recipients.in_batch(parent.id)
    ]
    if not ctx.batches.create(child, recipients, run_of=SeriesClaim(parent.id, index)):
        # Made before (by a spawner that died after making it, or one recovering the same
        # claim: the existing run is the run, and create changed nothing of it), or the series
        # was cancelled or paused since the claim (no run).
        return ctx.batches.get(run_id)
    return child


def _due(ctx: Context, parent: Batch, at: str) -> None:
    ctx.batches.make_due(parent.id, parent.status, at)


def _complete(ctx: Context, parent: Batch) -> None:
    ctx.batches.complete_series(parent, next_status(parent.status, A.COMPLETE), ctx.now_iso())


def run_ended(ctx: Context, run: Batch) -> None:
    """A run reached a final status: its parent (if still spawning) is due now."""
    if not run.parent_batch_id:
        return
    parent = ctx.batches.get(run.parent_batch_id)
    if parent is not None and parent.status is B.RECURRING:
        _due(ctx, parent, ctx.now_iso())


def pause_series(ctx: Context, account_id: str, batch_id: str) -> ActionResult:
    parent = _owned_parent(ctx, account_id, batch_id)
    target = next_status(parent.status, A.PAUSE_SERIES, is_series_parent=True)
    if ctx.batches.pause(parent, target, PausedReason.MANUAL, ctx.now_iso()) is None:
        raise Conflict("The series changed while this request ran; please retry")
    return ActionResult(success=True, message="Series paused: no new runs start; a run in progress continues")


def resume_series(ctx: Context, account_id: str, batch_id: str) -> ActionResult:
    parent = _owned_parent(ctx, account_id, batch_id)
    target = next_status(parent.status, A.RESUME_SERIES, is_series_parent=True)
    resumed = ctx.batches.resume_series(parent, target, ctx.now_iso())
    if resumed is None:
        raise Conflict("The series changed while this request ran; please retry")
    spawn_next(ctx, resumed)
    return ActionResult(success=True, message="Series resumed")


def cancel_series(
    ctx: Context, account_id: str, parent: Batch, cancel_run: Callable[[Context, str, str], object]
) -> ActionResult:
    """Cancel the series and, with ``cancel_run`` (lifecycle's cancel, which routes a parent
    here: passed in, not imported), each of its runs that has not ended."""
    target = next_status(parent.status, A.CANCEL, is_series_parent=True)
    now_iso = ctx.now_iso()
    if ctx.batches.cancel(parent, target, now_iso) is None:
        raise Conflict("The series changed while this request ran; please retry")
    cancelled_children = 0
    for run in _runs_to_cancel(ctx, parent):
        if run.status in FINAL:
            continue
        try:
            cancel_run(ctx, account_id, run.id)
            cancelled_children += 1
        except Conflict:
            pass  # it ended meanwhile
    return ActionResult(success=True, message="Series cancelled", cancelled_children=cancelled_children)


def _runs_to_cancel(ctx: Context, parent: Batch) -> list[Batch]:
    """The series' runs. The listing index is eventually consistent and can miss a run made a
    moment ago, so the latest claimed run is also read directly (consistently)."""
    runs = {run.id: run for run in ctx.batches.runs_of(parent.id)}
    if parent.recurrence_last_index >= 0:
        latest = ctx.batches.get(child_id(parent.id, parent.recurrence_last_index))
        if latest is not None:
            runs[latest.id] = latest
    return list(runs.values())


def _owned_parent(ctx: Context, account_id: str, batch_id: str) -> Batch:
    batch = get_owned_batch(ctx, account_id, batch_id)
    if not is_series_parent(batch):
        message = "is not a recurring series (a batch with recurrence_type other than none)"
        raise InvalidRequest(f"batch_id {message}", [{"field": "batch_id", "message": message}])
    return batch
