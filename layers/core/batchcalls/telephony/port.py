"""The telephony provider port: what the dialer and the call_status handler need from a carrier.

The production adapter is Twilio (``twilio_adapter``); offline, the same adapter talks to the
telephony simulator in ``local/simulator.py``, so one code path is exercised everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from pydantic import BaseModel


class CallRequest(BaseModel):
    """One outbound call to place."""

    to: str  # E.164
    from_: str  # E.164 caller ID
    status_callback_url: str  # signed callbacks go here; it carries batch id + recipient key
    twiml_url: str  # what the call runs once answered (the voice agent's entry point)
    ring_timeout_seconds: int = 30
    time_limit_seconds: int = 3600
    detect_answering_machine: bool = True


class PlacedCall(BaseModel):
    call_id: str  # provider's id (Twilio CallSid)
    status: str  # provider's raw status right after creation (e.g. "queued")


class ProviderCall(BaseModel):
    """A call as the provider reports it when fetched (used by the stuck-call reconciler)."""

    call_id: str
    status: str  # provider's raw status (Twilio: queued, ringing, in-progress, completed, ...)
    duration_seconds: int | None = None
    answered_by: str | None = None
    start_time: str | None = None  # ISO 8601
    end_time: str | None = None  # ISO 8601


class ProviderError(Exception):
    """Base for provider failures. ``message`` is safe to show to the user."""


class CallRejected(ProviderError):
    """The provider refused this one call for good (invalid number, unverified caller ID…)."""


class CallerIdRejected(CallRejected):
    """The provider refused our caller ID (not owned, not verified, invalid): no call of this
    batch can be placed from it."""


class ProviderAuthError(ProviderError):
    """Our credentials were refused: no call on this account can be placed until fixed."""


class ProviderUnavailable(ProviderError):
    """A transient failure (network, 5xx, rate limit): the same request may succeed later."""


class CallOutcomeUnknown(ProviderError):
    """The request may have reached the provider (the answer was lost): the call may exist.

    Never retried — a retry could dial the person twice. Its status callbacks, if the call
    exists, still find the recipient; if none come, the lost-call path settles it.
    """


class TelephonyProvider(Protocol):
    def place_call(self, request: CallRequest) -> PlacedCall: ...

    def fetch_call(self, call_id: str) -> ProviderCall: ...

    def hang_up(self, call_id: str) -> None: ...

    def validate_signature(self, url: str, params: Mapping[str, str], signature: str) -> bool: ...
