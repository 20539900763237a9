"""The catalogue of schemes and their current rules, read from a JSON file at start."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from civicflow.v1 import evaluator_pb2
from orchestrator.errors import SchemeFileError, StepFailedError


class SchemeRules(BaseModel):
    """The criteria of one scheme; ages are inclusive bounds."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scheme_name: str
    min_age: int = Field(ge=0, le=150)
    max_age: int = Field(ge=0, le=150)
    max_income: float = Field(ge=0, allow_inf_nan=False)

    @model_validator(mode="after")
    def _ages_ordered(self) -> SchemeRules:
        if self.min_age > self.max_age:
            raise ValueError(f"min_age {self.min_age} is greater than max_age {self.max_age}")
        return self

    def to_proto(self) -> evaluator_pb2.EligibilityRules:
        return evaluator_pb2.EligibilityRules(
            scheme_name=self.scheme_name, min_age=self.min_age, max_age=self.max_age, max_income=self.max_income
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "scheme_name": self.scheme_name,
            "min_age": self.min_age,
            "max_age": self.max_age,
            "max_income": json_number(self.max_income),
        }


def json_number(value: float) -> int | float:
    """An integral float as an int, so 250000.0 is written 250000, as the scheme file has it."""
    return int(value) if value.is_integer() else value


@dataclass(frozen=True)
class SchemeCatalog:
    schemes: Mapping[str, SchemeRules]

    @classmethod
    def load(cls, path: Path) -> SchemeCatalog:
        try:
            document = json.loads(path.read_text())
            schemes = {name: SchemeRules(scheme_name=name, **rules) for name, rules in document.items()}
        except (OSError, ValueError, TypeError, ValidationError) as error:
            raise SchemeFileError(f"{path}: cannot load schemes: {error}") from error
        return cls(schemes=schemes)

    def rules_for(self, scheme_name: str) -> SchemeRules:
        try:
            return self.schemes[scheme_name]
        except KeyError:
            known = ", ".join(sorted(self.schemes))
            raise StepFailedError(f"unknown scheme '{scheme_name}' (known schemes: {known})") from None
