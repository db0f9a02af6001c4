"""``make dev``: run the whole product offline until Ctrl-C."""

from __future__ import annotations

import logging
import os
import signal
import threading

from local.stack import OfflineStack, StackOptions

CURL = """curl -s -X POST {url}/batch-calls \\
  -H "Authorization: Bearer {key}" \\
  -H "Content-Type: application/json" \\
  -d '{{
    "action": "create",
    "name": "Appointment Reminders",
    "caller_id": "+16045551234",
    "send_now": true,
    "recipients": [
      {{ "name": "John Doe", "phone_number": "+14155551234" }},
      {{ "name": "Jane Smith", "phone_number": "+12125559876" }}
    ]
  }}'"""

ADMIN = """
Operator admin (accounts, keys, caller IDs, credits; docs/operator.md) against this stack:

  batchcalls-admin --local{extra} show-account --account {account}

which is short for

  AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing batchcalls-admin \\
    --region us-east-1 --endpoint-url {endpoint} --table {table} show-account --account {account}"""


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "WARNING"), format="%(asctime)s %(name)s %(message)s"
    )
    options = StackOptions.from_env(os.environ)
    stack = OfflineStack(options).start()
    stopped = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    print(f"batchcalls offline stack is up: {stack.api.url}")
    print(f"  API key:            {options.api_key}")
    print(f"  caller ID:          +16045551234 (agent {stack.demo.agent_id if stack.demo else ''})")
    print(f"  telephony simulator {stack.simulator.base_url}")
    print(f"  schedule tick:      every {options.tick_seconds:g} s")
    print(
        f"  events:             bus {stack.template.refs.get('EventBus', '')}, GET {stack.api.url}/account/events"
    )
    print("  webhooks:           http://127.0.0.1 endpoints allowed here (deployed: public https only)")
    if options.log_dir:
        print(f"  function logs:      {options.log_dir}/<Function>.jsonl (JSON lines and EMF metrics)")
    print("\nTry it:\n")
    print(CURL.format(url=stack.api.url, key=options.api_key))
    print('\nthen poll with {"action": "get", "batch_id": "<id>"}.')
    if stack.aws_endpoint:
        print(
            ADMIN.format(
                extra=""
                if stack.aws_endpoint == "http://127.0.0.1:4566"
                else f" --endpoint-url {stack.aws_endpoint}",
                endpoint=stack.aws_endpoint,
                table=stack.template.refs["Table"],
                account=stack.demo.account_id if stack.demo else "<id>",
            )
        )
    print("\nCtrl-C stops everything.", flush=True)
    stopped.wait()
    print("\nstopping…", flush=True)
    stack.stop()


if __name__ == "__main__":
    main()
