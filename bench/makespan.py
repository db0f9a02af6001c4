"""Makespan benchmark of the dialing engine on the offline stack.

For N recipients, C slots and a simulated call length of D seconds (every call answered by a
human and lasting D seconds), it prints the makespan (create → batch completed), the ideal
N·D/C, efficiency = ideal ÷ makespan, the peak number of simultaneous calls, and per dial:
state transitions, Lambda invocations, DynamoDB request units, SQS requests, API requests
(status callbacks) and the AWS cost they imply at us-east-1 list prices.

    python -m bench.makespan [--n 300] [--c 10] [--d 2]      (make bench)
"""

from __future__ import annotations

import argparse
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from batchcalls import aws
from batchcalls.domain.clock import iso
from batchcalls.domain.lifecycle import BatchStatus
from batchcalls.models.api import CreateBatchRequest
from batchcalls.services import webhooks
from batchcalls.services.batches import create_batch
from batchcalls.services.context import Context, get_context
from local import moto_tuning
from local.seed import DEMO_ACCOUNT_ID
from local.stack import OfflineStack, StackOptions

# us-east-1 list prices (USD).
SFN_PER_TRANSITION = 0.000025
LAMBDA_PER_REQUEST = 0.20 / 1_000_000
LAMBDA_PER_GB_SECOND_ARM = 0.0000133334
LAMBDA_MEMORY_GB = 0.5
DDB_PER_WRITE_UNIT = 0.625 / 1_000_000
DDB_PER_READ_UNIT = 0.125 / 1_000_000
SQS_PER_REQUEST = 0.40 / 1_000_000
APIGW_REST_PER_REQUEST = 3.50 / 1_000_000
EVENTBRIDGE_PER_EVENT = 1.00 / 1_000_000  # custom events put on a bus (64 KB chunks)
# Lambda's reads of a DynamoDB stream are free; the events functions are billed as Lambda.
EVENT_FUNCTIONS = ("EventsFunction", "WebhookSenderFunction")


def numbers(n: int) -> list[str]:
    # Last digit 1–4 or 6: a human answers (the simulator's rule), so every call lasts D.
    digits = "12346"
    return [
        f"+1415555{(i // 5) % 1000:03d}{digits[i % 5]}"
        if i < 5000
        else f"+1212555{(i // 5) % 1000:03d}{digits[i % 5]}"
        for i in range(n)
    ]


def state_transitions(stack: OfflineStack, batch_id: str, n: int) -> int:
    """States entered by the run's executions (what Standard workflows bill).

    The parent executions' histories are read; each Map child enters one state (DialAndWait),
    two when its Catch records a lost call — moto does not list a Map run's children.
    """
    sfn = aws.client("stepfunctions")
    arn = stack.template.refs["BatchRunStateMachine"]
    total = 0
    for execution in sfn.list_executions(stateMachineArn=arn)["executions"]:
        if not execution["name"].startswith(batch_id):
            continue
        events = sfn.get_execution_history(executionArn=execution["executionArn"], maxResults=1000)["events"]
        total += sum(1 for e in events if e["type"].endswith("StateEntered"))
    lost = stack.runtime.invocations["RecordLostCallFunction"]
    return total + n + lost


def run(n: int, c: int, d: float) -> None:
    options = StackOptions(
        port=0,
        tick_seconds=3600,
        sim_env={"LOCAL_SIM_RING_SECONDS": "0", "LOCAL_SIM_TALK_SECONDS": str(d)},
        demo_calls_per_second=1000,  # measures the engine's concurrency, not the carrier's pacing
    )
    with OfflineStack(options) as stack:
        ctx = get_context()
        request = CreateBatchRequest.model_validate(
            {
                "action": "create",
                "name": f"bench N={n} C={c}",
                "caller_id": "+16045551234",
                "reserved_concurrency": 20 - c,
                "recipients": [{"phone_number": p} for p in numbers(n)],
            }
        )
        receiver = EventReceiver()
        webhooks.create_webhook(ctx, DEMO_ACCOUNT_ID, webhooks.WebhookChange(url=receiver.url))
        started_at = iso(ctx.clock())
        before_units = dict(moto_tuning.REQUEST_UNITS)
        before_calls = dict(stack.runtime.invocations)
        before_busy = dict(stack.runtime.busy_seconds)
        started = time.monotonic()
        batch = create_batch(ctx, DEMO_ACCOUNT_ID, request)
        polls = 0
        while True:
            current = ctx.batches.get(batch.id)
            polls += 1
            if current and current.status is BatchStatus.COMPLETED:
                break
            time.sleep(0.2)
        makespan = time.monotonic() - started

        ideal = n * d / c
        peak = stack.simulator.peak_concurrency()
        invocations = {k: v - before_calls.get(k, 0) for k, v in stack.runtime.invocations.items()}
        busy = {k: v - before_busy.get(k, 0.0) for k, v in stack.runtime.busy_seconds.items()}
        engine = {
            k: v
            for k, v in invocations.items()
            if k not in ("ApiFunction", "AuthorizerFunction", *EVENT_FUNCTIONS)
        }
        writes = moto_tuning.REQUEST_UNITS["write"] - before_units.get("write", 0)
        reads = moto_tuning.REQUEST_UNITS["read"] - before_units.get("read", 0) - polls
        transitions = state_transitions(stack, batch.id, n)
        sqs_requests = 3 * n  # send (state machine) + receive + delete per message, long polls aside
        callbacks = invocations["CallStatusFunction"]
        lambda_seconds = sum(v for k, v in busy.items() if k in engine)

        per = 1 / n
        cost = {
            "step functions": transitions * SFN_PER_TRANSITION * per,
            "lambda": (
                sum(engine.values()) * LAMBDA_PER_REQUEST
                + lambda_seconds * LAMBDA_MEMORY_GB * LAMBDA_PER_GB_SECOND_ARM
            )
            * per,
            "dynamodb": (writes * DDB_PER_WRITE_UNIT + reads * DDB_PER_READ_UNIT) * per,
            "sqs": sqs_requests * SQS_PER_REQUEST * per,
            "api gateway": callbacks * APIGW_REST_PER_REQUEST * per,
        }
        print(f"N={n} recipients, C={c} slots, D={d:g} s simulated call length")
        print(f"  makespan            {makespan:8.2f} s")
        print(f"  ideal N*D/C         {ideal:8.2f} s")
        print(f"  efficiency          {ideal / makespan:8.3f}")
        print(f"  peak concurrency    {peak:8d}   (limit {c})")
        print("  per dial:")
        print(f"    state transitions {transitions * per:8.2f}")
        print(f"    lambda invocations{sum(engine.values()) * per:8.2f}   {engine}")
        print(f"    lambda seconds    {lambda_seconds * per:8.3f}   (offline, shared CPU)")
        print(f"    dynamodb writes   {writes * per:8.2f} WRU, reads {reads * per:.2f} RRU")
        print(f"    (by operation: {dict(moto_tuning.REQUEST_UNITS)})")
        print(f"    sqs requests      {sqs_requests * per:8.2f}")
        print(f"    status callbacks  {callbacks * per:8.2f}   (API Gateway requests)")
        total = sum(cost.values())
        print(f"    AWS cost          ${total:.7f} per dial  (${total * 1000:.4f} per 1,000 dials)")
        for part, value in cost.items():
            print(f"      {part:18s}${value * 1000:.4f} per 1,000")
        print_events_cost(stack, ctx, receiver, started_at, before_calls, before_busy, n)


class EventReceiver:
    """An endpoint subscribed to the default events, answering 204 and counting deliveries."""

    def __init__(self) -> None:
        self.count = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.count += 1
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{server.server_address[1]}/hook"


def print_events_cost(
    stack: OfflineStack,
    ctx: Context,
    receiver: EventReceiver,
    since: str,
    before_calls: dict[str, int],
    before_busy: dict[str, float],
    n: int,
) -> None:
    """Events and webhook deliveries per dial and what they add (bus, log, Lambda, SQS)."""
    time.sleep(3)  # the stream and the deliveries trail the batch's completion a little
    events, cursor = 0, None
    while True:
        page = ctx.event_log.page(DEMO_ACCOUNT_ID, since=since, limit=500, cursor=cursor)
        events += len(page.items)
        cursor = page.next_cursor
        if not cursor:
            break
    calls = {k: stack.runtime.invocations[k] - before_calls.get(k, 0) for k in EVENT_FUNCTIONS}
    seconds = sum(stack.runtime.busy_seconds[k] - before_busy.get(k, 0.0) for k in EVENT_FUNCTIONS)
    cost = (
        events * EVENTBRIDGE_PER_EVENT
        + events * DDB_PER_WRITE_UNIT  # the event log
        # per delivery: SQS send, receive, delete; the attempt and the slot taken and given back;
        # the endpoint and the delivery read
        + receiver.count * (3 * SQS_PER_REQUEST + 3 * DDB_PER_WRITE_UNIT + 2 * DDB_PER_READ_UNIT)
        + sum(calls.values()) * LAMBDA_PER_REQUEST
        + seconds * LAMBDA_MEMORY_GB * LAMBDA_PER_GB_SECOND_ARM
    ) / n
    print("  events (one webhook endpoint of the default events):")
    print(f"    events per dial   {events / n:8.2f}   deliveries per dial {receiver.count / n:.2f}")
    print(f"    lambda            {calls}   {seconds / n:.3f} s per dial")
    print(f"    AWS cost          ${cost * 1000:.4f} per 1,000 dials  (target: at most $0.01)")


def main() -> None:
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--c", type=int, default=10)
    parser.add_argument("--d", type=float, default=2.0)
    args = parser.parse_args()
    run(args.n, args.c, args.d)


if __name__ == "__main__":
    main()
