"""Builds the configured telephony provider (Twilio, or the simulator through the same adapter)."""

from __future__ import annotations

from batchcalls.config import Settings
from batchcalls.telephony.port import TelephonyProvider


def auth_token(settings: Settings) -> str:
    if settings.twilio_auth_token:
        return settings.twilio_auth_token
    if settings.twilio_auth_token_parameter:
        # Powertools caches the decrypted parameter (default 5 minutes) across invocations.
        from aws_lambda_powertools.utilities import parameters

        return str(parameters.get_parameter(settings.twilio_auth_token_parameter, decrypt=True))
    raise RuntimeError("Set TWILIO_AUTH_TOKEN or TWILIO_AUTH_TOKEN_PARAMETER")


def make_provider(settings: Settings) -> TelephonyProvider:
    from batchcalls.telephony.twilio_adapter import TwilioProvider

    return TwilioProvider(
        account_sid=settings.twilio_account_sid,
        auth_token=auth_token(settings),
        api_base_url=settings.twilio_api_base_url or None,
    )
