"""The offline stack over HTTP: scheduled starts, call windows (batch and recipient zones),
recurring series, automatic redial, credits running out, and call pacing."""

from __future__ import annotations

import itertools
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from batchcalls.domain.clock import iso, parse_iso
from batchcalls.domain.window import sunday_based_weekday
from batchcalls.models.domain import Account, CallerNumber
from batchcalls.services import account as account_service
from batchcalls.services.auth import hash_api_key
from batchcalls.services.context import get_context
from local.stack import OfflineStack
from tests.e2e.conftest import Client
from tests.helpers import wait_for

CALLER = "+16045551234"
FEE = 5_000


def create(client: Client, **body: Any) -> dict[str, Any]:
    return client.create(**{"name": "t", "caller_id": CALLER, **body})


def wait_status(client: Client, batch_id: str, status: str, timeout: float = 90) -> dict[str, Any]:
    return wait_for(lambda: (v := client.get(batch_id))["batch"]["status"] == status and v, timeout=timeout)


def new_account(stack: OfflineStack, *, balance: int, cps: float = 100, max_concurrency: int = 20) -> Client:
    """An account of its own (as `batchcalls-admin` would make it) and a client with its key."""
    ctx = get_context()
    account_id = f"e2e-{uuid.uuid4().hex[:8]}"
    key = f"key-{uuid.uuid4().hex}"
    ctx.accounts.put_account(
        Account(
            id=account_id,
            max_concurrency=max_concurrency,
            per_minute_rate_micros=10_000,
            calls_per_second=cps,
        )
    )
    ctx.accounts.put_api_key(hash_api_key(key), account_id)
    ctx.accounts.put_caller_number(account_id, CallerNumber(phone_number=CALLER, agent_id="agent-e2e"))
    if balance:
        account_service.add_credits(ctx, account_id, balance, ref="opening")
    client = Client(stack.api.url, key)
    client.account_id = account_id  # type: ignore[attr-defined]
    return client


# -- time ----------------------------------------------------------------------------------


def test_a_batch_scheduled_30_s_ahead_starts_within_a_tick_of_its_time(client: Client) -> None:
    at = datetime.now(UTC) + timedelta(seconds=30)
    batch = create(
        client, send_now=False, scheduled_at=iso(at), recipients=[{"phone_number": "+14155552001"}]
    )["batch"]
    assert batch["status"] == "scheduled"
    started = wait_for(lambda: client.get(batch["id"])["batch"]["started_at"], timeout=60, interval=0.2)
    # The stack ticks every second: it starts at its time, never before, within a tick after.
    assert 0 <= (parse_iso(started) - parse_iso(iso(at))).total_seconds() <= 2.5


def test_window_days_excluding_today_pause_the_batch_with_no_dials(
    client: Client, stack: OfflineStack
) -> None:
    zone = "Pacific/Auckland"
    today = sunday_based_weekday(datetime.now(ZoneInfo(zone)))
    # Tomorrow left out too, so a test running at midnight in Auckland still sees a closed day.
    other_days = [d for d in range(7) if d not in (today, (today + 1) % 7)]
    batch = create(
        client, timezone=zone, window_days=other_days, recipients=[{"phone_number": "+14155552002"}]
    )["batch"]
    assert batch["status"] == "paused" and batch["paused_reason"] == "outside_window"
    assert batch["due_at"] is not None
    time.sleep(2.5)  # two ticks: nothing dials it meanwhile
    view = client.get(batch["id"])
    assert view["recipients"][0]["status"] == "pending" and view["recipients"][0]["attempts"] == 0
    assert all(call.to != "+14155552002" for call in stack.simulator.calls)


def test_recipient_windows_dial_only_those_whose_local_window_is_open(client: Client) -> None:
    # A three-hour window around the time in New York now: open there, closed in London
    # (5 hours ahead) and in Tokyo (14 hours ahead), whatever the hour the test runs.
    ny_now = datetime.now(ZoneInfo("America/New_York"))
    start, end = ny_now - timedelta(hours=1), ny_now + timedelta(hours=2)
    batch = create(
        client,
        window_timezone="recipient",
        window_start_time=start.strftime("%H:%M"),
        window_end_time=end.strftime("%H:%M"),
        recipients=[
            {"phone_number": "+12125552003"},  # New York
            {"phone_number": "+442071838750"},  # London
            {"phone_number": "+14155552004", "timezone": "Asia/Tokyo"},
        ],
    )["batch"]
    assert batch["status"] == "running"

    def new_york_done() -> dict[str, Any] | None:
        view = client.get(batch["id"])
        return view if view["recipients"][0]["status"] == "completed" else None

    view = new_york_done() or wait_for(new_york_done, timeout=60)
    london, tokyo = view["recipients"][1], view["recipients"][2]
    assert london["status"] == "pending" and london["attempts"] == 0 and london["next_attempt_at"]
    assert tokyo["status"] == "pending" and tokyo["attempts"] == 0 and tokyo["next_attempt_at"]
    assert view["batch"]["status"] == "running"
    client.action("cancel", batch_id=batch["id"])


def test_an_hourly_series_shows_its_first_run_and_pause_series_stops_spawning(client: Client) -> None:
    body = {"recurrence_type": "hourly", "recipients": [{"phone_number": "+14155552005"}]}
    spawning = create(client, **body)
    paused = create(client, **body)
    assert spawning["batch"]["status"] == "recurring" and spawning["first_run"]["status"] == "running"
    assert spawning["first_run"]["parent_batch_id"] == spawning["batch"]["id"]
    assert client.action("pause_series", batch_id=paused["batch"]["id"]).status_code == 200
    wait_status(client, spawning["first_run"]["id"], "completed")
    wait_status(client, paused["first_run"]["id"], "completed")

    # When a run ends the next one is spawned at the next occurrence (an hour after the first)…
    # (The run is written first, then the parent's count: wait for both.)
    view = wait_for(
        lambda: (
            (v := client.get(spawning["batch"]["id"]))["batch"]["recurrence_run_count"] == 2
            and len(v["runs"]) == 2
            and v
        )
    )
    nxt = view["runs"][0]
    assert nxt["status"] == "scheduled" and nxt["occurrence_number"] == 2
    anchor = parse_iso(spawning["batch"]["created_at"])  # send_now: the series counts from its creation
    assert (parse_iso(nxt["scheduled_at"]) - anchor).total_seconds() == 3600
    assert view["batch"]["recurrence_run_count"] == 2
    # …but not for the paused series.
    held = client.get(paused["batch"]["id"])
    assert held["batch"]["status"] == "paused" and len(held["runs"]) == 1
    runs = client.action("list_runs", parent_batch_id=spawning["batch"]["id"]).json()["runs"]
    assert [r["occurrence_number"] for r in runs] == [2, 1]
    cancelled = client.action("cancel", batch_id=spawning["batch"]["id"]).json()
    assert cancelled["cancelled_children"] == 1


def test_a_busy_recipient_with_a_retry_policy_is_dialed_again(client: Client) -> None:
    batch = create(
        client,
        retry_policy={"on": ["busy"], "max_attempts": 2, "delay_minutes": 0},
        recipients=[{"phone_number": "+14155552007"}, {"phone_number": "+14155552006"}],  # 7 = busy
    )["batch"]
    view = wait_status(client, batch["id"], "completed", timeout=120)
    busy, answered = view["recipients"]
    assert busy["status"] == "busy" and busy["attempts"] == 2
    assert [a["outcome"] for a in busy["attempt_history"]] == ["busy", "busy"]
    assert answered["status"] == "completed" and answered["attempts"] == 1
    assert view["batch"]["failed_count"] == 1 and view["batch"]["completed_count"] == 1


# -- money and capacity -------------------------------------------------------------------


def test_credits_run_out_mid_batch_and_a_top_up_and_resume_finish_it(stack: OfflineStack) -> None:
    client = new_account(stack, balance=3 * FEE)
    numbers = [f"+1415555{n:04d}" for n in range(3010, 3016)]
    batch = create(client, recipients=[{"phone_number": n} for n in numbers])
    assert batch["estimate"]["estimated_cost_micros"] == 6 * FEE
    assert batch["estimate"]["sufficient"] is False
    paused = wait_status(client, batch["batch"]["id"], "paused")
    assert paused["batch"]["paused_reason"] == "insufficient_credits"
    account_id = client.account_id  # type: ignore[attr-defined]

    account_service.add_credits(get_context(), account_id, 1_000_000, ref="top-up")
    assert client.action("resume", batch_id=batch["batch"]["id"]).status_code == 200
    done = wait_status(client, batch["batch"]["id"], "completed", timeout=120)

    recipients = done["recipients"]
    assert all(r["status"] == "completed" and r["attempts"] == 1 for r in recipients)
    ledger = client.session.get(f"{client.base}/account/ledger", params={"limit": 500}, timeout=10).json()
    entries = ledger["entries"]
    fees = [e for e in entries if e["kind"] == "dial_fee"]
    minutes = [e for e in entries if e["kind"] == "call_minutes"]
    assert sorted(e["recipient_id"] for e in fees) == sorted(f"R#{i:07d}" for i in range(1, 7))
    assert len(minutes) == sum(1 for r in recipients if (r["duration_seconds"] or 0) > 0)
    account = client.session.get(f"{client.base}/account", timeout=10).json()["account"]
    assert account["balance_micros"] == sum(e["amount_micros"] for e in entries) >= 0
    assert sum(r["cost_micros"] for r in recipients) == -sum(e["amount_micros"] for e in fees + minutes)


def test_call_starts_never_exceed_the_accounts_calls_per_second(stack: OfflineStack) -> None:
    client = new_account(stack, balance=1_000_000, cps=2)
    batch = create(client, recipients=[{"phone_number": f"+1415555{n:04d}"} for n in range(3020, 3028)])
    done = wait_status(client, batch["batch"]["id"], "completed", timeout=120)
    starts = sorted(parse_iso(r["attempted_at"]).timestamp() for r in done["recipients"])
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(starts) == 8 and min(gaps) >= 0.5 - 0.001
    # Each call reached the carrier (the simulator's own clock) at or after the start it was given.
    created = {c.to: c.created_at for c in stack.simulator.calls}
    assert all(
        created[r["phone_number"]] >= parse_iso(r["attempted_at"]).timestamp() - 0.002
        for r in done["recipients"]
    )
    assert max(sum(1 for t in starts if s <= t < s + 1) for s in starts) <= 2
