"""The bridge from civicflow.rules to the evaluator: documents from the wire compiled (and cached), citizens checked.

A document is compiled at most once per distinct document_json while it stays among the
COMPILED_CACHE_SIZE most recently used: the cache is keyed by the SHA-256 of the bytes, so it
holds no state a caller could see, only saved work.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from civicflow.rules.attributes import CATEGORY_CODES
from civicflow.rules.compiled import CompiledRules, compile_rules
from civicflow.rules.document import DocumentError, parse_document
from civicflow.v1 import evaluator_pb2
from evaluator.errors import InvalidCitizenError, InvalidDocumentError

AGE_LIMITS = (0, 150)
HOUSEHOLD_SIZE_LIMITS = (1, 100)
COMPILED_CACHE_SIZE = 256
CATEGORY_NAMES = {code: name for name, code in CATEGORY_CODES.items()}


class CompiledDocuments:
    """Compiled documents by the SHA-256 of their JSON bytes, the least recently used dropped past `capacity`."""

    def __init__(self, capacity: int = COMPILED_CACHE_SIZE) -> None:
        self._capacity = capacity
        self._compiled: OrderedDict[bytes, CompiledRules] = OrderedDict()

    def __len__(self) -> int:
        return len(self._compiled)

    def get(self, document: evaluator_pb2.RuleDocument, *, field: str) -> CompiledRules:
        """The document compiled; InvalidDocumentError naming every problem at `field` + its path."""
        key = _key(document)
        compiled = self._compiled.get(key)
        if compiled is not None:
            self._compiled.move_to_end(key)
            return compiled
        return self._keep(key, _compile(document, field=field))

    async def compile_new(self, documents: Sequence[evaluator_pb2.RuleDocument], *, field: str) -> None:
        """Compiles, on a worker thread, the documents not compiled yet, so that `get` finds them.

        Checking and compiling a large document takes up to a second; on the event loop it would hold
        up every call the replica serves meanwhile. Problems are named as `get` names them: at
        `field`[i] for a list of documents ("documents"), at `field` for the one of a request.
        """
        for index, document in enumerate(documents):
            key = _key(document)
            if key not in self._compiled:
                at = f"{field}[{index}]" if field == "documents" else field
                self._keep(key, await asyncio.to_thread(_compile, document, field=at))

    def _keep(self, key: bytes, compiled: CompiledRules) -> CompiledRules:
        self._compiled[key] = compiled
        if len(self._compiled) > self._capacity:
            self._compiled.popitem(last=False)
        return compiled


def _key(document: evaluator_pb2.RuleDocument) -> bytes:
    return hashlib.sha256(document.document_json.encode("utf-8")).digest()


def _compile(document: evaluator_pb2.RuleDocument, *, field: str) -> CompiledRules:
    try:
        content = json.loads(document.document_json)
    except (ValueError, RecursionError) as error:
        raise InvalidDocumentError.at(f"{field}.document_json", f"is not JSON: {error}") from None
    try:
        return compile_rules(parse_document(content, field=f"{field}.document_json"))
    except DocumentError as error:
        raise InvalidDocumentError(error.problems) from None


def citizen_attributes(citizen: evaluator_pb2.CitizenProfile, reads: frozenset[str]) -> dict[str, object]:
    """The citizen's attributes as the rules read them; InvalidCitizenError for one no real citizen can be.

    Age and income are always checked; household_size and category only when a document reads them,
    so that a caller deciding under documents that do not read them need not fill them in.
    """
    low, high = AGE_LIMITS
    if not low <= citizen.age <= high:
        raise InvalidCitizenError(f"citizen age must lie in [{low}, {high}], got {citizen.age}")
    if not math.isfinite(citizen.income) or citizen.income < 0:
        raise InvalidCitizenError(f"citizen income must be a finite number >= 0, got {citizen.income}")
    low, high = HOUSEHOLD_SIZE_LIMITS
    if "household_size" in reads and not low <= citizen.household_size <= high:
        raise InvalidCitizenError(f"citizen household_size must lie in [{low}, {high}], got {citizen.household_size}")
    if "category" in reads and citizen.category not in CATEGORY_NAMES:
        raise InvalidCitizenError("the rules read the citizen's category, and the citizen has none")
    return {
        "age": citizen.age,
        # A whole amount as an int, as the registry has it: reasons then report 114920, not 114920.0.
        "income": int(citizen.income) if citizen.income.is_integer() and citizen.income < 2**53 else citizen.income,
        "category": CATEGORY_NAMES.get(citizen.category, ""),
        "household_size": citizen.household_size,
        "has_disability": citizen.has_disability,
    }


def impossible_rows(columns: dict[str, npt.NDArray[Any]]) -> dict[int, str]:
    """Index -> why, for each citizen of a batch no real citizen can be (only the columns given are looked at)."""
    problems: dict[int, str] = {}

    def refuse(mask: npt.NDArray[np.bool_], why: str) -> None:
        for index in np.flatnonzero(mask).tolist():
            problems.setdefault(index, why)

    low, high = AGE_LIMITS
    if "age" in columns:
        ages = columns["age"]
        refuse((ages < low) | (ages > high), f"citizen age must lie in [{low}, {high}]")
    if "income" in columns:
        incomes = columns["income"]
        with np.errstate(invalid="ignore"):  # NaN compares False; ~isfinite catches it
            refuse(~np.isfinite(incomes) | (incomes < 0), "citizen income must be a finite number >= 0")
    low, high = HOUSEHOLD_SIZE_LIMITS
    if "household_size" in columns:
        sizes = columns["household_size"]
        refuse((sizes < low) | (sizes > high), f"citizen household_size must lie in [{low}, {high}]")
    if "category" in columns:
        refuse(
            ~np.isin(columns["category"], list(CATEGORY_NAMES)),
            "the rules read the citizen's category, and the citizen has none",
        )
    return {index: _with_value(problems[index], columns, index) for index in sorted(problems)}


def _with_value(why: str, columns: dict[str, npt.NDArray[Any]], index: int) -> str:
    for name, column in columns.items():
        if f"citizen {name} " in why:
            return f"{why}, got {column[index].item()}"
    return why
