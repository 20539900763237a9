"""Evaluator settings, including the fault hooks that make it fail or stall on chosen citizens (off by default)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import NoDecode

from civicflow.settings import GrpcServiceSettings

# Read from the environment as a comma-separated list: EVALUATOR_FAIL_CITIZENS=CIT-0000007,CIT-0000042
CitizenIds = Annotated[frozenset[str], NoDecode]


class EvaluatorSettings(GrpcServiceSettings):
    evaluator_port: int = 50052
    # Fault hooks, for showing and testing how the orchestrator copes. Citizens named here fail
    # (an ItemError in a stream, INTERNAL for a unary call) or have their answer held back
    # evaluator_stall_seconds (a unary call sleeps; a stream delays only that batch's answer).
    evaluator_fail_citizens: CitizenIds = frozenset()
    evaluator_stall_citizens: CitizenIds = frozenset()
    evaluator_stall_seconds: float = Field(default=0.0, ge=0)
    # How many times each fault fires for each citizen in this process; 0 means every time.
    # 1 shows "fails once, then succeeds" when the orchestrator retries.
    evaluator_fault_times: int = Field(default=0, ge=0)

    @field_validator("evaluator_fail_citizens", "evaluator_stall_citizens", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        if isinstance(value, str):
            return frozenset(part.strip() for part in value.split(",") if part.strip())
        return value
