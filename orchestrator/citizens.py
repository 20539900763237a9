"""Mock citizen registry: each citizen's data is a pure function of the citizen id.

The data is derived from SHA-256 of the id, never from Python's hash() (salted per
process) nor from a shared random generator, so every process, restart and machine
sees the same citizen.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

CATEGORIES = ("general", "sc", "st", "obc")
MIN_AGE, MAX_AGE = 18, 80
MIN_INCOME, MAX_INCOME = 50_000, 300_000
# Bumping the version changes every citizen: it is part of the hash input on purpose.
_DOMAIN = b"civicflow.mock-citizen.v1:"
_FIRST_NAMES = (
    "Aarav", "Ananya", "Arjun", "Diya", "Ishaan", "Kavya", "Meera", "Nikhil",
    "Priya", "Rahul", "Riya", "Rohan", "Saanvi", "Sanjay", "Tara", "Vikram",
)
_LAST_NAMES = (
    "Bose", "Chopra", "Das", "Gupta", "Iyer", "Joshi", "Kapoor", "Khan",
    "Mehta", "Nair", "Patel", "Rao", "Reddy", "Shah", "Singh", "Verma",
)


@dataclass(frozen=True, slots=True)
class Citizen:
    citizen_id: str
    name: str
    age: int
    income: float
    category: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def mock_citizen(citizen_id: str) -> Citizen:
    digest = hashlib.sha256(_DOMAIN + citizen_id.encode("utf-8")).digest()
    age = MIN_AGE + int.from_bytes(digest[0:4], "big") % (MAX_AGE - MIN_AGE + 1)
    income = MIN_INCOME + int.from_bytes(digest[4:8], "big") % (MAX_INCOME - MIN_INCOME + 1)
    name = f"{_FIRST_NAMES[digest[8] % len(_FIRST_NAMES)]} {_LAST_NAMES[digest[9] % len(_LAST_NAMES)]}"
    return Citizen(
        citizen_id=citizen_id,
        name=name,
        age=age,
        income=income,
        category=CATEGORIES[digest[10] % len(CATEGORIES)],
    )


def population_citizen_id(position: int) -> str:
    """The id of the citizen at `position` (from 1) of a mock population."""
    return f"CIT-{position:07d}"
