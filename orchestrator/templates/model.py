"""The shape of a workflow template file, checked when the file is loaded."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from jsonschema import Draft202012Validator, SchemaError
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from civicflow.auth.access import NEVER_RUNS
from civicflow.auth.principals import Role
from orchestrator.templates.step_policy import NO_RETRY, RetryPolicy

IDENTIFIER = r"^[a-z][a-z0-9_]*$"
# A step reads run inputs as "inputs.<name>" and earlier outputs by their context key.
INPUTS_PREFIX = "inputs."


class StepSpec(BaseModel):
    """A step that runs a task."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["task"] = "task"
    name: str = Field(pattern=IDENTIFIER)
    task_type: str
    config: dict[str, Any] = Field(default_factory=dict)
    # Task input name -> where its value comes from ("inputs.citizen_id", "citizen").
    input_mapping: dict[str, str] = Field(default_factory=dict)
    # Task output name -> the context key it is stored under for later steps and the run's outputs.
    output_mapping: dict[str, str]
    # Failure policy: attempts and backoff, a time limit per attempt, and (for steps that
    # fan out over items) how many items may fail for good without failing the step.
    retry: RetryPolicy = NO_RETRY
    timeout_seconds: float | None = Field(default=None, gt=0, le=86_400)
    tolerated_failures: int | float = Field(default=0, ge=0)

    @field_validator("tolerated_failures")
    @classmethod
    def _fraction_at_most_one(cls, value: int | float) -> int | float:
        if isinstance(value, float) and value > 1:
            raise ValueError("a fraction of items must be between 0 and 1; use an integer for a count")
        return value

    @field_validator("output_mapping")
    @classmethod
    def _context_keys_are_identifiers(cls, mapping: dict[str, str]) -> dict[str, str]:
        for key in mapping.values():
            if not key or key == "inputs" or not key.replace("_", "a").isalnum():
                raise ValueError(f"'{key}' is not a valid context key")
        return mapping


class SwitchSpec(BaseModel):
    """A step that chooses the steps that follow by a value already in the run's context.

    `on` is a dotted path: "recommendation.decision" is the `decision` field of the context key
    `recommendation`. The case named by the value (a string; any other value by its JSON text)
    runs, or `default` if none is; then the steps after the switch.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["switch"]
    name: str = Field(pattern=IDENTIFIER)
    on: str = Field(min_length=1)
    cases: dict[str, list[AnyStep]] = Field(min_length=1)
    default: list[AnyStep] = Field(default_factory=list)


def _step_kind(value: Any) -> str:
    kind = value.get("kind", "task") if isinstance(value, dict) else getattr(value, "kind", "task")
    return "switch" if kind == "switch" else "task"


AnyStep = Annotated[Annotated[StepSpec, Tag("task")] | Annotated[SwitchSpec, Tag("switch")], Discriminator(_step_kind)]
SwitchSpec.model_rebuild()


class WorkflowTemplate(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    template_id: str = Field(pattern=IDENTIFIER)
    version: str = Field(min_length=1, max_length=64)
    description: str = Field(min_length=1)
    # JSON Schema (draft 2020-12) of the run's inputs; must describe an object.
    input_schema: dict[str, Any]
    steps: list[AnyStep] = Field(min_length=1)
    # Dotted path, within the run's outputs, of the decision a run of this template makes.
    decision_output: str | None = None
    # The template that re-runs this template's decisions on appeal; none: not appealable.
    appeal_template: str | None = None
    # The roles that may run this template, and read its runs (civicflow/auth/access.py); admin always may.
    allowed_roles: frozenset[Role] = Field(min_length=1)

    @field_validator("allowed_roles")
    @classmethod
    def _runners_only(cls, roles: frozenset[Role]) -> frozenset[Role]:
        if never := roles & NEVER_RUNS:
            raise ValueError(f"{', '.join(sorted(never))} may read runs but never start one")
        return roles

    @field_validator("input_schema")
    @classmethod
    def _schema_is_valid(cls, schema: dict[str, Any]) -> dict[str, Any]:
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as error:
            raise ValueError(f"not a valid JSON Schema: {error.message}") from error
        if schema.get("type") != "object":
            raise ValueError('must have "type": "object"')
        return schema
