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
    print("\nTry it:\n")
    print(CURL.format(url=stack.api.url, key=options.api_key))
    print('\nthen poll with {"action": "get", "batch_id": "<id>"}.  Ctrl-C stops everything.', flush=True)
    stopped.wait()
    print("\nstopping…", flush=True)
    stack.stop()


if __name__ == "__main__":
    main()
