"""Settings: read once from the environment into one object that is passed down.

Nothing reads the environment at import time; handlers call ``get_settings()`` on first use
and tests call ``get_settings.cache_clear()`` (or build ``Settings`` directly).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache

from pydantic import BaseModel

from batchcalls.domain.billing import DIAL_FEE_MICROS
from batchcalls.domain.recipient_limits import MAX_RECIPIENTS_PER_REQUEST


class Settings(BaseModel):
    table_name: str = "batchcalls"
    dial_queue_url: str = ""
    manifest_bucket: str = ""
    # Uploaded recipient files and exports (presigned URLs); the endpoint users reach S3 at
    # when it is not AWS's own (offline: the local AWS endpoint).
    files_bucket: str = ""
    import_queue_url: str = ""
    s3_public_endpoint_url: str = ""
    upload_url_expires_seconds: int = 3600
    export_url_expires_seconds: int = 900
    # 128 MiB: about two million rows of the template, which the 512 MB importer holds (about
    # 110 MiB per million distinct numbers, bench/recipient_files.py).
    max_upload_bytes: int = 128 << 20
    # Past this many recipients export.csv would outlast API Gateway's 29 s (409 instead).
    export_max_recipients: int = 150_000
    state_machine_arn: str = ""
    # Base URL the provider reaches us at (API stage URL); status callbacks hang below it.
    public_base_url: str = "http://127.0.0.1:3000"
    # What an answered call runs: the voice agent's TwiML entry point; {agent_id} is filled in.
    agent_twiml_url: str = "http://127.0.0.1:3000/agents/{agent_id}/twiml"
    # That URL is signed (domain/agent_url.py) with the stack's secret: the value itself
    # (offline, tests), else the Secrets Manager secret the template creates (read once per
    # container).
    agent_url_secret: str = ""
    agent_url_secret_arn: str = ""
    # How long a signed agent URL is good for: it is fetched when the call is answered, so
    # this covers the provider's queueing, the ring time and answering-machine detection.
    agent_url_expires_seconds: int = 600
    twilio_account_sid: str = "AC00000000000000000000000000000000"
    twilio_auth_token: str = ""
    # SSM SecureString holding the auth token when deployed (read once through Powertools).
    twilio_auth_token_parameter: str = ""
    # Offline: the simulator's base URL; empty means the real https://api.twilio.com.
    twilio_api_base_url: str = ""
    default_region: str = "US"  # phone-number region for numbers given without +country
    default_timezone: str = "UTC"
    default_max_concurrency: int = 20
    ring_timeout_seconds: int = 30
    max_call_seconds: int = 3600
    # Seconds a Map child waits for a call's final status before its Catch records it lost;
    # 0 = ring + max call time + margin. The state machine reads it from the Plan output.
    dial_task_timeout_override_seconds: int = 0
    dial_task_timeout_margin_seconds: int = 120
    # A call still without a final status this long after its Map child gave up on it (no
    # child at all after a cancel) is reconciled by the scheduler's stuck-call sweep.
    stuck_call_grace_seconds: int = 300
    dial_fee_micros: int = DIAL_FEE_MICROS
    # After a pass, recipients it deferred get the next pass this much later.
    next_pass_delay_seconds: int = 30
    # CSV rows in one request (JSON lists stop at the same number in the API's schema).
    max_recipients_per_request: int = MAX_RECIPIENTS_PER_REQUEST
    # Events (docs/events.md): the stack's bus, the webhook queue, and the key every
    # endpoint's signing secret is derived from (the value offline, else its secret's ARN).
    event_bus_name: str = ""
    webhook_queue_url: str = ""
    webhook_secret: str = ""
    webhook_secret_arn: str = ""
    event_log_days: int = 30  # events and deliveries are kept this long
    # The wait before each attempt (Standard Webhooks' schedule: immediately … 24 h).
    webhook_retry_schedule_seconds: str = "0,5,300,1800,7200,18000,36000,50400,72000,86400"
    webhook_timeout_seconds: float = 5.0
    webhook_endpoint_concurrency: int = 5  # deliveries in flight per endpoint
    webhook_disable_after_seconds: int = 5 * 86400  # an endpoint failing this long is disabled
    webhook_rotation_overlap_seconds: int = 86400  # the old secret signs too for this long
    max_webhooks_per_account: int = 10
    # Offline only: endpoints on 127.0.0.1 and plain http (in AWS: https to public addresses).
    webhook_allow_private_urls: bool = False

    @property
    def dial_task_timeout_seconds(self) -> int:
        if self.dial_task_timeout_override_seconds > 0:
            return self.dial_task_timeout_override_seconds
        return self.ring_timeout_seconds + self.max_call_seconds + self.dial_task_timeout_margin_seconds

    @property
    def stuck_call_after_seconds(self) -> int:
        """From a dial's start until the sweep may reconcile its call."""
        return self.dial_task_timeout_seconds + self.stuck_call_grace_seconds

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        values: dict[str, str] = {}
        for name in cls.model_fields:
            raw = environ.get(name.upper())
            if raw is not None and raw != "":
                values[name] = raw
        return cls.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_env(os.environ)
