"""Twilio implementation of the telephony port, on the official ``twilio`` SDK.

The same class serves production (``https://api.twilio.com``) and the offline stack: given
``api_base_url`` (the simulator in ``local/simulator.py``), every REST request the SDK would
send to Twilio goes to that base instead, so the code path exercised offline is this one.

Nothing here touches the network or builds an SDK client at import time; the client is made on
first use and cached on the instance.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from twilio.base import values
from twilio.base.exceptions import TwilioRestException, TwilioServiceException
from twilio.http.http_client import TwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client

from batchcalls.telephony.port import (
    CallerIdRejected,
    CallOutcomeUnknown,
    CallRejected,
    CallRequest,
    PlacedCall,
    ProviderAuthError,
    ProviderCall,
    ProviderError,
    ProviderUnavailable,
)

logger = logging.getLogger(__name__)

STATUS_CALLBACK_EVENTS = ["initiated", "ringing", "answered", "completed"]

# Twilio error codes we explain in words (https://www.twilio.com/docs/api/errors).
_AUTH_ERROR_CODE = 20003
_CALL_NOT_IN_PROGRESS = 21220  # updating a call that has already ended
# The 'From' number itself is refused: every call of the batch would be.
_CALLER_ID_CODES = frozenset({21210, 21212})
_REJECTION_MESSAGES: dict[int, str] = {
    13223: "the 'To' phone number is not in a valid format",
    13224: "the 'To' phone number is not a valid, callable number",
    21201: "no 'To' phone number was given",
    21210: "the 'From' number is not a phone number or verified caller ID on this Twilio account",
    21211: "the 'To' phone number is invalid",
    21212: "the 'From' phone number is invalid",
    21214: "the 'To' phone number cannot be reached",
    21215: "calls to this number's country or region are not enabled (geo permissions)",
    21216: "this 'To' phone number is blocked by Twilio",
    21217: "the 'To' phone number is not a valid phone number",
    21219: "the 'To' number is not verified (a trial account can only call verified numbers)",
    21603: "no 'From' phone number was given",
}


class _RedirectingHttpClient(TwilioHttpClient):
    """A ``TwilioHttpClient`` that sends requests meant for ``https://*.twilio.com`` elsewhere.

    Why: the SDK builds absolute URLs from its domains' hard-coded ``base_url``
    (``https://api.twilio.com``, possibly rewritten for an edge/region). The HTTP client is the
    one documented seam (``Client(http_client=...)``) that sees every request, so rewriting the
    scheme and host here points this one client at the offline simulator without patching any
    SDK globals; the path, query string, auth and body are left exactly as the SDK made them.
    """

    def __init__(self, base_url: str, timeout: float | None) -> None:
        super().__init__(timeout=timeout)
        if self.session is not None:  # the SDK only sizes the https:// pool; match it for http
            self.session.mount("http://", HTTPAdapter(pool_maxsize=32))
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"api_base_url must be an absolute http(s) URL, got {base_url!r}")
        self._scheme = parts.scheme
        self._netloc = parts.netloc
        self._path_prefix = parts.path.rstrip("/")

    def rewrite(self, url: str) -> str:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        if host != "twilio.com" and not host.endswith(".twilio.com"):
            return url
        return urlunsplit((self._scheme, self._netloc, self._path_prefix + parts.path, parts.query, ""))

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        return super().request(method, self.rewrite(url), *args, **kwargs)


class TwilioProvider:
    """The telephony port on Twilio's Programmable Voice REST API."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        api_base_url: str | None = None,
        timeout_seconds: float = 10,
    ) -> None:
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._api_base_url = api_base_url or None
        self._timeout_seconds = float(timeout_seconds)
        self._client: Client | None = None
        self._validator: RequestValidator | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never show the token
        target = self._api_base_url or "https://api.twilio.com"
        return f"TwilioProvider(account_sid={self._account_sid!r}, api={target!r})"

    # -- SDK plumbing -------------------------------------------------------------------------

    def _get_client(self) -> Client:
        with self._lock:
            if self._client is None:
                http_client: TwilioHttpClient
                if self._api_base_url:
                    http_client = _RedirectingHttpClient(self._api_base_url, self._timeout_seconds)
                else:
                    http_client = TwilioHttpClient(timeout=self._timeout_seconds)
                self._client = Client(self._account_sid, self._auth_token, http_client=http_client)
            return self._client

    # -- the port -----------------------------------------------------------------------------

    def place_call(self, request: CallRequest) -> PlacedCall:
        client = self._get_client()
        try:
            call = client.calls.create(
                to=request.to,
                from_=request.from_,
                url=request.twiml_url,
                status_callback=request.status_callback_url,
                status_callback_method="POST",
                status_callback_event=list(STATUS_CALLBACK_EVENTS),
                timeout=request.ring_timeout_seconds,
                time_limit=request.time_limit_seconds,
                machine_detection="Enable" if request.detect_answering_machine else values.unset,
            )
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _translate(exc, "place the call") from exc
        except requests.RequestException as exc:
            if _may_have_been_sent(exc):
                raise CallOutcomeUnknown(f"Twilio's answer was lost ({type(exc).__name__})") from exc
            raise _unreachable(exc) from exc
        return PlacedCall(call_id=str(call.sid), status=str(call.status or "queued"))

    def fetch_call(self, call_id: str) -> ProviderCall:
        client = self._get_client()
        try:
            call = client.calls(call_id).fetch()
        except (TwilioRestException, TwilioServiceException) as exc:
            raise _translate(exc, f"fetch call {call_id}") from exc
        except requests.RequestException as exc:
            raise _unreachable(exc) from exc
        return ProviderCall(
            call_id=str(call.sid or call_id),
            status=str(call.status),
            duration_seconds=_to_int(call.duration),
            answered_by=call.answered_by or None,
            start_time=_to_iso(call.start_time),
            end_time=_to_iso(call.end_time),
        )

    def hang_up(self, call_id: str) -> None:
        """End the call now (a queued or ringing call is canceled). A call already over is fine."""
        client = self._get_client()
        try:
            client.calls(call_id).update(status="completed")
        except (TwilioRestException, TwilioServiceException) as exc:
            if exc.code == _CALL_NOT_IN_PROGRESS:
                logger.info("hang_up: call %s had already ended", call_id)
                return
            raise _translate(exc, f"hang up call {call_id}") from exc
        except requests.RequestException as exc:
            raise _unreachable(exc) from exc

    def validate_signature(self, url: str, params: Mapping[str, str], signature: str) -> bool:
        """Check ``X-Twilio-Signature`` over the exact public URL Twilio called and its form."""
        if not signature:
            return False
        with self._lock:
            if self._validator is None:
                self._validator = RequestValidator(self._auth_token)
            validator = self._validator
        return bool(validator.validate(url, dict(params), signature))


# -- helpers -------------------------------------------------------------------------------------


def _translate(exc: TwilioRestException | TwilioServiceException, action: str) -> ProviderError:
    status = int(exc.status or 0)
    code = exc.code if isinstance(exc.code, int) else None
    if status in (401, 403) or code == _AUTH_ERROR_CODE:
        return ProviderAuthError(
            f"Twilio refused our credentials (HTTP {status}"
            + (f", error {code}" if code else "")
            + "); check the account SID and auth token"
        )
    if status == 429 or status >= 500:
        return ProviderUnavailable(f"Twilio could not {action} right now (HTTP {status}); try again later")
    if 400 <= status < 500:
        reason = _REJECTION_MESSAGES.get(code or 0) or _twilio_message(exc)
        suffix = f" (Twilio error {code})" if code else f" (HTTP {status})"
        kind = CallerIdRejected if code in _CALLER_ID_CODES else CallRejected
        return kind(f"Twilio refused to {action}: {reason}{suffix}")
    return ProviderUnavailable(f"Twilio gave an unexpected answer (HTTP {status}) to {action}")


def _twilio_message(exc: TwilioRestException | TwilioServiceException) -> str:
    if isinstance(exc, TwilioServiceException):
        return str(exc.detail or exc.title)
    message = str(exc.msg or "request refused")
    # The SDK prefixes Twilio's own message with "Unable to create record: " and the like.
    _, sep, rest = message.partition(": ")
    return rest if sep and message.startswith("Unable to ") else message


def _may_have_been_sent(exc: requests.RequestException) -> bool:
    """False only when the request certainly never reached Twilio (no connection was made)."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        text = repr(exc)
        return not any(
            mark in text for mark in ("NewConnectionError", "NameResolutionError", "Connection refused")
        )
    return isinstance(exc, requests.Timeout | requests.exceptions.ChunkedEncodingError)


def _unreachable(exc: requests.RequestException) -> ProviderUnavailable:
    return ProviderUnavailable(f"Twilio could not be reached: {type(exc).__name__}")


def _to_int(value: object) -> int | None:
    if value is None or value == "":
        return None
    try:
        return int(str(value))
    except ValueError:
        return None


def _to_iso(value: object) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str) and value:
        return value
    return None
