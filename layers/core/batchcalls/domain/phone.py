"""Phone numbers: everything is stored in E.164, parsed by ``phonenumbers``."""

from __future__ import annotations

import phonenumbers
from phonenumbers import NumberParseException


class InvalidPhoneNumber(ValueError):
    pass


def region_code(code: str | None) -> str:
    """``code`` as a region ``phonenumbers`` knows (``"gb"`` → ``"GB"``); ValueError if none."""
    region = (code or "").upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"'{code}' is not a region code (e.g. US, GB)")
    return region


def to_e164(raw: str, default_region: str = "US") -> str:
    """Normalise ``raw`` to E.164 or raise ``InvalidPhoneNumber`` with the reason."""
    text = (raw or "").strip()
    if not text:
        raise InvalidPhoneNumber("is empty")
    try:
        number = phonenumbers.parse(text, default_region.upper() if not text.startswith("+") else None)
    except NumberParseException as exc:
        raise InvalidPhoneNumber(f"'{text}' is not a phone number ({exc._msg})") from exc
    if not phonenumbers.is_possible_number(number):
        raise InvalidPhoneNumber(f"'{text}' has the wrong number of digits")
    if not phonenumbers.is_valid_number(number):
        raise InvalidPhoneNumber(f"'{text}' is not a valid number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
