"""Mock citizen registry: each citizen's data is a pure function of the citizen id.

A citizen's fields are cut from two splitmix64 outputs of a 64-bit key. A population
id (`CIT-0000042`, see civicflow.citizen_ids) has its position as key, so a whole
batch of a population is generated in a handful of uint64 NumPy operations; any other
id is keyed by SHA-256 of the id with the top bit set, so it can never alias a position.
Nothing comes from Python's hash() (salted per process) or a shared random generator:
every process, restart and machine sees the same citizen, one at a time or in a batch.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from civicflow.citizen_ids import population_position

CATEGORIES = ("general", "sc", "st", "obc")
MIN_AGE, MAX_AGE = 18, 80
MIN_INCOME, MAX_INCOME = 50_000, 300_000
_FIRST_NAMES = (
    "Aarav",
    "Ananya",
    "Arjun",
    "Diya",
    "Ishaan",
    "Kavya",
    "Meera",
    "Nikhil",
    "Priya",
    "Rahul",
    "Riya",
    "Rohan",
    "Saanvi",
    "Sanjay",
    "Tara",
    "Vikram",
)
_LAST_NAMES = (
    "Bose",
    "Chopra",
    "Das",
    "Gupta",
    "Iyer",
    "Joshi",
    "Kapoor",
    "Khan",
    "Mehta",
    "Nair",
    "Patel",
    "Rao",
    "Reddy",
    "Shah",
    "Singh",
    "Verma",
)
# Bumping the version changes every citizen: it is mixed into every key on purpose.
_DOMAIN = b"civicflow.mock-citizen.v2"
_VERSION = np.uint64(int.from_bytes(hashlib.sha256(_DOMAIN).digest()[:8], "big"))
_NAMED_KEY_BIT = 1 << 63
_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_U32 = np.uint64(0xFFFFFFFF)
_MASK64 = (1 << 64) - 1
_VERSION_INT = int(_VERSION)
_GAMMA_INT = int(_GAMMA)

Ages = npt.NDArray[np.int32]
Incomes = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Citizen:
    citizen_id: str
    name: str
    age: int
    income: float
    category: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def population_columns(first_position: int, count: int) -> tuple[Ages, Incomes]:
    """Ages and incomes of the citizens at positions first_position .. first_position + count - 1."""
    keys = np.arange(first_position, first_position + count, dtype=np.uint64)
    ages, incomes, _ = _fields(keys)
    return ages, incomes


def mock_citizen(citizen_id: str) -> Citizen:
    """The registry's record of one citizen: for a population id, exactly what population_columns gives."""
    position = population_position(citizen_id)
    # A position of 2**63 or more would alias a hashed key (or not fit 64 bits): hash it like any other id.
    if position is not None and position < _NAMED_KEY_BIT:
        key = position
    else:
        digest = hashlib.sha256(_DOMAIN + b":" + citizen_id.encode("utf-8")).digest()
        key = int.from_bytes(digest[:8], "big") | _NAMED_KEY_BIT
    # Plain ints: NumPy costs tens of microseconds per call on a one-element array.
    state = key ^ _VERSION_INT
    first = _splitmix64_int((state + _GAMMA_INT) & _MASK64)
    label = _splitmix64_int((state + 2 * _GAMMA_INT) & _MASK64)
    return Citizen(
        citizen_id=citizen_id,
        name=f"{_FIRST_NAMES[label & 0xF]} {_LAST_NAMES[(label >> 4) & 0xF]}",
        age=MIN_AGE + (first >> 32) % (MAX_AGE - MIN_AGE + 1),
        # Whole amounts, kept as int so that JSON shows 114920 rather than 114920.0.
        income=MIN_INCOME + (first & 0xFFFFFFFF) % (MAX_INCOME - MIN_INCOME + 1),
        category=CATEGORIES[(label >> 8) % len(CATEGORIES)],
    )


def _fields(keys: npt.NDArray[np.uint64]) -> tuple[Ages, Incomes, npt.NDArray[np.uint64]]:
    """Ages, incomes and name/category bits of each key: the two first outputs of splitmix64 seeded with it."""
    state = keys ^ _VERSION
    first = _splitmix64(state + _GAMMA)
    second = _splitmix64(state + _GAMMA + _GAMMA)
    # Modulo of 32-bit values by 63 and 250,001: the bias is below one part in 17,000.
    ages = (MIN_AGE + (first >> np.uint64(32)) % np.uint64(MAX_AGE - MIN_AGE + 1)).astype(np.int32)
    incomes = (MIN_INCOME + (first & _U32) % np.uint64(MAX_INCOME - MIN_INCOME + 1)).astype(np.float64)
    return ages, incomes, second


def _splitmix64(z: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The splitmix64 finaliser (Steele, Lea, Flood 2014); uint64 arrays wrap silently, as the algorithm needs."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _splitmix64_int(z: int) -> int:
    """_splitmix64 on one Python int, masked to 64 bits where the array version wraps."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)
