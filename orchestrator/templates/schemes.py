"""The three numbers of the fixed rule, as the evaluator and the impact analysis still take them.

Scheme versions themselves live in the database: orchestrator/schemes/.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from civicflow.v1 import evaluator_pb2


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
