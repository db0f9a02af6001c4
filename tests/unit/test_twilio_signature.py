"""TwilioProvider.validate_signature against Twilio's published X-Twilio-Signature vectors."""

from __future__ import annotations

import pytest

from batchcalls.telephony.twilio_adapter import TwilioProvider

# Twilio docs, "Webhooks security" → "Validating signatures from Twilio" (worked example).
DOCS_TOKEN = "12345"
DOCS_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOCS_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
DOCS_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="

# The twilio-python SDK's own test vector (tests/unit/test_request_validator.py): same URL and
# token, other caller number.
SDK_PARAMS = {**DOCS_PARAMS, "Caller": "+14158675309", "From": "+14158675309"}
SDK_SIGNATURE = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


@pytest.fixture
def provider() -> TwilioProvider:
    # No network: validating a signature never builds the REST client.
    return TwilioProvider("AC" + "0" * 32, DOCS_TOKEN)


def test_twilio_documented_vector_validates(provider: TwilioProvider) -> None:
    assert provider.validate_signature(DOCS_URL, DOCS_PARAMS, DOCS_SIGNATURE)


def test_twilio_sdk_vector_validates(provider: TwilioProvider) -> None:
    assert provider.validate_signature(DOCS_URL, SDK_PARAMS, SDK_SIGNATURE)


def test_param_order_does_not_matter(provider: TwilioProvider) -> None:
    reversed_params = dict(reversed(list(DOCS_PARAMS.items())))
    assert provider.validate_signature(DOCS_URL, reversed_params, DOCS_SIGNATURE)


@pytest.mark.parametrize(
    "params",
    [
        {**DOCS_PARAMS, "Digits": "9999"},  # a changed value
        {**DOCS_PARAMS, "Extra": "1"},  # an added param
        {k: v for k, v in DOCS_PARAMS.items() if k != "Digits"},  # a dropped param
    ],
    ids=["changed", "added", "dropped"],
)
def test_tampered_params_fail(provider: TwilioProvider, params: dict[str, str]) -> None:
    assert not provider.validate_signature(DOCS_URL, params, DOCS_SIGNATURE)


@pytest.mark.parametrize(
    "url",
    [
        "https://mycompany.com/myapp.php?foo=1&bar=3",  # other query value
        "https://mycompany.com/myapp.php?bar=2&foo=1",  # query reordered: the URL is signed as is
        "https://mycompany.com/myapp.php",  # query dropped
        "https://evil.example/myapp.php?foo=1&bar=2",  # other host
        "http://mycompany.com/myapp.php?foo=1&bar=2",  # other scheme
    ],
)
def test_tampered_url_fails(provider: TwilioProvider, url: str) -> None:
    assert not provider.validate_signature(url, DOCS_PARAMS, DOCS_SIGNATURE)


@pytest.mark.parametrize(
    "signature",
    ["", "0/KCTR6DLpKmkAf8muzZqo1nDgQ", "1/KCTR6DLpKmkAf8muzZqo1nDgQ=", SDK_SIGNATURE],
    ids=["empty", "truncated", "one-char-changed", "other-request"],
)
def test_tampered_signature_fails(provider: TwilioProvider, signature: str) -> None:
    assert not provider.validate_signature(DOCS_URL, DOCS_PARAMS, signature)


def test_other_auth_token_fails() -> None:
    other = TwilioProvider("AC" + "0" * 32, "54321")
    assert not other.validate_signature(DOCS_URL, DOCS_PARAMS, DOCS_SIGNATURE)


def test_explicit_default_port_is_accepted(provider: TwilioProvider) -> None:
    # Twilio may sign with or without :443; the SDK validator tries both.
    url = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert provider.validate_signature(url, DOCS_PARAMS, DOCS_SIGNATURE)


def test_only_certainly_unsent_requests_count_as_retryable() -> None:
    import requests

    from batchcalls.telephony.twilio_adapter import _may_have_been_sent

    assert not _may_have_been_sent(requests.ConnectTimeout("connect timed out"))
    assert not _may_have_been_sent(requests.ConnectionError("NewConnectionError: Connection refused"))
    assert _may_have_been_sent(requests.ReadTimeout("read timed out"))
    assert _may_have_been_sent(requests.ConnectionError("RemoteDisconnected('closed without response')"))
