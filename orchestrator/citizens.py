"""Mock citizen registry: each citizen's data is a pure function of the citizen id.

A citizen's fields are cut from two splitmix64 outputs of a 64-bit key: age and income
from the first; name, category, household size and disability from disjoint bits of the
second, so the fields added later left every earlier field of every citizen as it was.
A population id (`CIT-0000042`, see civicflow.citizen_ids) has its position as key, so a
whole batch of a population is generated in a handful of uint64 NumPy operations; any
other id is keyed by SHA-256 of the id with the top bit set, so it can never alias a position.
Nothing comes from Python's hash() (salted per process) or a shared random generator:
every process, restart and machine sees the same citizen, one at a time or in a batch.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from civicflow.citizen_ids import population_position
from civicflow.rules.attributes import ATTRIBUTES, CATEGORY_CODES

# The order a citizen's category is drawn in (changing it changes every citizen); reports list them otherwise.
_DRAW_ORDER = ("general", "sc", "st", "obc")
MIN_AGE, MAX_AGE = 18, 80
MIN_INCOME, MAX_INCOME = 50_000, 300_000
MIN_HOUSEHOLD, MAX_HOUSEHOLD = 1, 8  # three bits of the second output
# has_disability is true when the top 32 bits of the second output fall below this: 5 % of 2**32.
_DISABILITY_BELOW = round(0.05 * 2**32)
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
CategoryCodes = npt.NDArray[np.int32]  # civicflow.v1.Category values (civicflow.rules.attributes.CATEGORY_CODES)
HouseholdSizes = npt.NDArray[np.int32]
Disabilities = npt.NDArray[np.bool_]
# The Category value of each index into _DRAW_ORDER, the order the registry draws them in.
_CATEGORY_CODES = np.array([CATEGORY_CODES[category] for category in _DRAW_ORDER], dtype=np.int32)
_LABEL_ATTRIBUTES = frozenset({"category", "household_size", "has_disability"})
# Shifts, masks and multipliers made once: NumPy scalars cost a little on every batch.
_U3, _U7, _U8, _U10, _U27, _U30, _U31, _U32_SHIFT = (np.uint64(n) for n in (3, 7, 8, 10, 27, 30, 31, 32))
_MIX_1, _MIX_2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_DISABILITY_BELOW_U64 = np.uint64(_DISABILITY_BELOW)
_AGE_SPAN, _INCOME_SPAN = np.uint64(MAX_AGE - MIN_AGE + 1), np.uint64(MAX_INCOME - MIN_INCOME + 1)


@dataclass(frozen=True, slots=True)
class Citizen:
    citizen_id: str
    name: str
    age: int
    income: float
    category: str
    household_size: int
    has_disability: bool

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class CitizenColumns:
    """Attributes of consecutive citizens as columns; an attribute not asked for is None."""

    size: int
    age: Ages | None = None
    income: Incomes | None = None
    category: CategoryCodes | None = None
    household_size: HouseholdSizes | None = None
    has_disability: Disabilities | None = None


def population_columns(first_position: int, count: int) -> tuple[Ages, Incomes]:
    """Ages and incomes of the citizens at positions first_position .. first_position + count - 1: the cheap path."""
    keys = np.arange(first_position, first_position + count, dtype=np.uint64)
    return _ages_and_incomes(_splitmix64((keys ^ _VERSION) + _GAMMA))


def population_attributes(first_position: int, count: int, attributes: Collection[str]) -> CitizenColumns:
    """The asked-for attributes (civicflow.rules.attributes.ATTRIBUTES) of the citizens from first_position on."""
    return attributes_at(np.arange(first_position, first_position + count, dtype=np.uint64), attributes)


def attributes_at(keys: npt.NDArray[np.uint64], attributes: Collection[str]) -> CitizenColumns:
    """The asked-for attributes of the citizens of these keys (citizen_key; a position is its own), computing
    only what is asked: the first splitmix64 output for age and income, the second for the others."""
    unknown = set(attributes).difference(ATTRIBUTES)
    if unknown:
        raise ValueError(f"the registry has no attribute {sorted(unknown)[0]!r}")
    state = keys ^ _VERSION
    columns: dict[str, Any] = {}
    if "age" in attributes or "income" in attributes:
        ages, incomes = _ages_and_incomes(_splitmix64(state + _GAMMA))
        columns["age"], columns["income"] = ages, incomes
    if _LABEL_ATTRIBUTES.intersection(attributes):
        label = _splitmix64(state + _GAMMA + _GAMMA)
        if "category" in attributes:
            # Bits 8-9: `% len(_DRAW_ORDER)` in mock_citizen, a mask here since there are four.
            columns["category"] = _CATEGORY_CODES.take((label >> _U8) & _U3)
        if "household_size" in attributes:
            columns["household_size"] = (MIN_HOUSEHOLD + ((label >> _U10) & _U7)).astype(np.int32)
        if "has_disability" in attributes:
            columns["has_disability"] = (label >> _U32_SHIFT) < _DISABILITY_BELOW_U64
    return CitizenColumns(size=len(keys), **{name: columns[name] for name in attributes})


def citizen_key(citizen_id: str) -> int:
    """The 64-bit key a citizen's data is cut from: a population id's position, or a hash of any other id."""
    position = population_position(citizen_id)
    # A position of 2**63 or more would alias a hashed key (or not fit 64 bits): hash it like any other id.
    if position is not None and position < _NAMED_KEY_BIT:
        return position
    digest = hashlib.sha256(_DOMAIN + b":" + citizen_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") | _NAMED_KEY_BIT


def mock_citizen(citizen_id: str) -> Citizen:
    """The registry's record of one citizen: exactly what attributes_at gives for its key."""
    key = citizen_key(citizen_id)
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
        category=_DRAW_ORDER[(label >> 8) % len(_DRAW_ORDER)],
        household_size=MIN_HOUSEHOLD + ((label >> 10) & 0x7),
        has_disability=(label >> 32) < _DISABILITY_BELOW,
    )


def _ages_and_incomes(first: npt.NDArray[np.uint64]) -> tuple[Ages, Incomes]:
    """Ages and incomes cut from the first splitmix64 output of each key."""
    # Modulo of 32-bit values by 63 and 250,001: the bias is below one part in 17,000.
    ages = (MIN_AGE + (first >> _U32_SHIFT) % _AGE_SPAN).astype(np.int32)
    incomes = (MIN_INCOME + (first & _U32) % _INCOME_SPAN).astype(np.float64)
    return ages, incomes


def _splitmix64(z: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The splitmix64 finaliser (Steele, Lea, Flood 2014); uint64 arrays wrap silently, as the algorithm needs."""
    z = (z ^ (z >> _U30)) * _MIX_1
    z = (z ^ (z >> _U27)) * _MIX_2
    return z ^ (z >> _U31)


def _splitmix64_int(z: int) -> int:
    """_splitmix64 on one Python int, masked to 64 bits where the array version wraps."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)
