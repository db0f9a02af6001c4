from __future__ import annotations

import pytest

from batchcalls.domain.phone import InvalidPhoneNumber, to_e164


@pytest.mark.parametrize(
    ("raw", "region", "e164"),
    [
        ("+14155551234", "US", "+14155551234"),
        ("(415) 555-1234", "US", "+14155551234"),
        ("415.555.1234", "US", "+14155551234"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
    ],
)
def test_normalises_to_e164(raw: str, region: str, e164: str) -> None:
    assert to_e164(raw, region) == e164


@pytest.mark.parametrize("raw", ["", "  ", "hello", "+1 555", "+1415555123456789"])
def test_rejects_with_a_reason(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as err:
        to_e164(raw)
    assert str(err.value)
