"""Population citizen ids: `CIT-` and the citizen's position (from 1) in at least 7 digits.

The orchestrator numbers a population with them and the evaluator's fault hooks name
citizens by them, so both must write and read exactly this format.
"""

from __future__ import annotations

CITIZEN_ID_PREFIX = "CIT-"
# Positions below 10**7 are zero-padded to this many digits; larger ones are written in full.
CITIZEN_ID_MIN_DIGITS = 7


def population_citizen_id(position: int) -> str:
    """The id of the citizen at `position` (from 1) of a population."""
    return f"{CITIZEN_ID_PREFIX}{position:0{CITIZEN_ID_MIN_DIGITS}d}"


def population_position(citizen_id: str) -> int | None:
    """The position a population id stands for; None for any other id (`CIT-1` is not `CIT-0000001`)."""
    digits = citizen_id.removeprefix(CITIZEN_ID_PREFIX)
    if digits == citizen_id or not (digits.isascii() and digits.isdigit()):
        return None
    position = int(digits)
    # Only what population_citizen_id writes names a position: not `CIT-1`, nor `CIT-00000001`.
    return position if position >= 1 and population_citizen_id(position) == citizen_id else None
