"""Which events a change of a batch, a recipient or a balance means, and their stable ids."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from batchcalls.domain import event_capture as capture
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.domain.recipient_status import RecipientStatus
from batchcalls.models.domain import Batch, Recipient
from batchcalls.models.events import EventType

MAGPIPE_CALL_FIELDS = {
    "call_record_id",
    "direction",
    "caller_number",
    "service_number",
    "agent_id",
    "duration_seconds",
    "status",
    "transcript",
    "summary",
    "extracted_data",
}


def batch(**fields: object) -> Batch:
    base: dict[str, object] = {
        "id": "b-1",
        "account_id": "acct-1",
        "name": "Reminders",
        "caller_id": "+16045551234",
        "agent_id": "agent-demo",
        "status": BatchStatus.RUNNING,
        "timeout_seconds": 30,
        "created_at": "2026-12-02T10:00:00.000Z",
        "updated_at": "2026-12-02T10:00:00.000Z",
        "run_number": 1,
    }
    return Batch.model_validate({**base, **fields})


def recipient(**fields: object) -> Recipient:
    base: dict[str, object] = {
        "batch_id": "b-1",
        "seq": 1,
        "id": "r-1",
        "phone_number": "+14155551234",
        "name": "John Doe",
        "sort_order": 0,
        "variables": {"appointment": "Tuesday"},
    }
    return Recipient.model_validate({**base, **fields})


ATTEMPT = {
    "attempt": 1,
    "ticket": "1:1",
    "outcome": "busy",
    "attempted_at": "2026-12-02T10:01:00.000Z",
    "completed_at": "2026-12-02T10:01:20.000Z",
    "call_id": "CA1",
    "cost_micros": 5000,
}


def test_a_new_batch_and_each_status_it_moves_to_are_events_a_save_without_a_move_is_not() -> None:
    made = capture.batch_status_changed(None, batch(status=BatchStatus.DRAFT))
    assert made is not None and made.data["previous_status"] is None and made.data["status"] == "draft"

    paused = batch(
        status=BatchStatus.PAUSED, paused_reason="outside_window", updated_at="2026-12-02T11:00:00.000Z"
    )
    event = capture.batch_status_changed(batch(), paused)
    assert event is not None and event.type is EventType.BATCH_STATUS_CHANGED
    assert (event.data["previous_status"], event.data["status"], event.data["reason"]) == (
        "running",
        "paused",
        "outside_window",
    )
    assert capture.batch_status_changed(batch(), batch(completed_count=3)) is None


def test_every_batch_event_names_the_account_and_a_run_its_series() -> None:
    run = batch(parent_batch_id="series-1", status=BatchStatus.COMPLETED)
    event = capture.batch_status_changed(batch(parent_batch_id="series-1"), run)
    assert event is not None
    assert {k: event.data[k] for k in ("account_id", "batch_id", "parent_batch_id")} == {
        "account_id": "acct-1",
        "batch_id": "b-1",
        "parent_batch_id": "series-1",
    }
    assert "parent_batch_id" not in capture.batch_refs(batch())


def test_the_same_change_read_twice_has_the_same_id_and_a_later_one_another() -> None:
    paused = batch(status=BatchStatus.PAUSED, updated_at="2026-12-02T11:00:00.000Z")
    first = capture.batch_status_changed(batch(), paused)
    again = capture.batch_status_changed(batch(), paused)
    later = capture.batch_status_changed(
        batch(), paused.model_copy(update={"updated_at": "2026-12-02T12:00:00.000Z"})
    )
    assert first is not None and again is not None and later is not None
    assert first.id == again.id != later.id
    assert first.id.startswith("evt_") and len(first.id) == 30


def test_a_run_completing_is_a_completion_a_series_ending_is_not() -> None:
    done = batch(
        status=BatchStatus.COMPLETED,
        started_at="2026-12-02T10:00:00.000Z",
        completed_at="2026-12-02T10:05:30.000Z",
    )
    assert capture.is_run_completion(batch(), done)
    assert not capture.is_run_completion(done, done)  # a save of a completed batch
    series = batch(recurrence_type="daily", status=BatchStatus.COMPLETED)
    assert not capture.is_run_completion(batch(recurrence_type="daily", status=BatchStatus.RECURRING), series)

    event = capture.batch_completed(done, {"completed": 2, "busy": 1}, 12_000)
    assert event.data["duration_seconds"] == 330 and event.data["cost_micros"] == 12_000
    assert event.data["counts"] == {"completed": 2, "busy": 1}
    # One per run: a re-run completing again is another event.
    assert event.id != capture.batch_completed(done.model_copy(update={"run_number": 2}), {}, 0).id


def test_each_attempt_added_to_the_history_is_one_call_completed_with_magpipes_fields() -> None:
    before = recipient(status=RecipientStatus.IN_PROGRESS, attempts=1)
    after = recipient(status=RecipientStatus.PENDING, attempts=1, attempt_history=[ATTEMPT])
    [event] = capture.calls_completed(batch(), before, after)
    assert set(event.data) >= MAGPIPE_CALL_FIELDS
    assert event.data["direction"] == "outbound"
    assert event.data["caller_number"] == "+14155551234"  # the person called
    assert event.data["service_number"] == "+16045551234"  # the account's number
    assert (event.data["status"], event.data["outcome"], event.data["attempt"]) == ("busy", "busy", 1)
    assert event.data["variables"] == {"appointment": "Tuesday"} and event.data["recipient_id"] == "r-1"
    assert event.data["transcript"] is None and event.data["call_record_id"] == "CA1"

    second = {**ATTEMPT, "attempt": 2, "ticket": "1:2", "outcome": "completed", "duration_seconds": 42}
    final = after.model_copy(
        update={"status": RecipientStatus.COMPLETED, "attempt_history": [ATTEMPT, second]}
    )
    [next_event] = capture.calls_completed(batch(), after, final)
    assert next_event.data["duration_seconds"] == 42 and next_event.id != event.id
    assert capture.calls_completed(batch(), final, final) == []  # a save that ended no attempt


def test_a_recipient_status_change_is_an_event_a_save_without_one_is_not() -> None:
    ringing = recipient(status=RecipientStatus.RINGING, ticket="1:1", attempts=1)
    answered = ringing.model_copy(update={"status": RecipientStatus.IN_PROGRESS})
    event = capture.recipient_status_changed(batch(), ringing, answered)
    assert event is not None and (event.data["previous_status"], event.data["status"]) == (
        "ringing",
        "in_progress",
    )
    assert capture.recipient_status_changed(batch(), answered, answered) is None


@given(
    before=st.integers(-10_000_000, 10_000_000),
    after=st.integers(-10_000_000, 10_000_000),
    threshold=st.integers(0, 5_000_000),
)
def test_credits_low_fires_exactly_when_the_balance_crosses_under_the_threshold(
    before: int, after: int, threshold: int
) -> None:
    event = capture.credits_low("acct-1", before, after, threshold, "2026-12-02T10:00:00.000Z")
    assert (event is not None) == (threshold > 0 and after < threshold <= before)
    if event is not None:
        assert event.data == {"account_id": "acct-1", "balance_micros": after, "threshold_micros": threshold}


def test_a_stream_record_of_an_item_we_do_not_know_is_passed_over_not_retried() -> None:
    from batchcalls.store.stream import change_of

    broken = {
        "eventID": "1",
        "dynamodb": {
            "Keys": {"pk": {"S": "BATCH#b-1"}, "sk": {"S": "META"}},
            "NewImage": {"pk": {"S": "BATCH#b-1"}, "sk": {"S": "META"}, "status": {"S": "exploded"}},
        },
    }
    assert change_of(broken) is None
    other = {"dynamodb": {"Keys": {"pk": {"S": "ACCOUNT#a"}, "sk": {"S": "SLOTS"}}}}
    assert change_of(other) is None
