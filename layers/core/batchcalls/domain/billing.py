"""Money: integer micro-dollars (1 USD = 1,000,000), never floats.

Each dial costs the dial fee, taken before the call starts; a connected call then costs the
account's per-minute rate for every started minute, charged once when the call ends.
"""

from __future__ import annotations

from dataclasses import dataclass

MICROS_PER_DOLLAR = 1_000_000
DIAL_FEE_MICROS = 5_000  # $0.005, the guide's price per dial


def started_minutes(duration_seconds: int) -> int:
    """Minutes billed for a call of ``duration_seconds``: every started minute (61 s → 2)."""
    if duration_seconds <= 0:
        return 0
    return -(-duration_seconds // 60)


def minutes_charge(duration_seconds: int, rate_micros_per_minute: int) -> int:
    return started_minutes(duration_seconds) * max(rate_micros_per_minute, 0)


@dataclass(frozen=True)
class CostEstimate:
    """What dialing every recipient once costs in dial fees (minutes depend on who answers)."""

    recipients: int
    dial_fee_micros: int
    estimated_cost_micros: int
    balance_micros: int
    balance_after_micros: int
    sufficient: bool


def estimate(recipients: int, balance_micros: int, dial_fee_micros: int = DIAL_FEE_MICROS) -> CostEstimate:
    cost = recipients * dial_fee_micros
    return CostEstimate(
        recipients=recipients,
        dial_fee_micros=dial_fee_micros,
        estimated_cost_micros=cost,
        balance_micros=balance_micros,
        balance_after_micros=balance_micros - cost,
        sufficient=balance_micros >= cost,
    )


def dollars(micros: int) -> str:
    """``12_345_000`` → ``"12.345000"`` (exact; for display next to the integer field)."""
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICROS_PER_DOLLAR)
    return f"{sign}{whole}.{frac:06d}"
