"""An eligibility check's run and step attempts as pure values, for the tests of resuming and retrying runs."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from civicflow.settings import REPO_ROOT
from orchestrator.runs.step_attempts import StepAttempt
from orchestrator.storage.instance_records import InstanceRecord, RunProgress
from orchestrator.tasks import TASK_CONTRACTS
from orchestrator.templates.registry import LoadedTemplate, TemplateRegistry
from orchestrator.templates.step_policy import ErrorKind
from tests.support.seeded_schemes import seeded_rules, shipped_template_version

SHIPPED = REPO_ROOT / "templates"
INSTANCE_ID = uuid.UUID("00000000-0000-4000-8000-000000000042")
MOMENT = datetime(2026, 11, 27, 9, 30, tzinfo=UTC)
CITIZEN = {
    "citizen_id": "CIT-0000042",
    "name": "N",
    "age": 30,
    "income": 1000.0,
    "category": "general",
    "household_size": 2,
    "has_disability": False,
}
RULES = seeded_rules("scheme_alpha")
# What each step of eligibility_check consumes in these runs, as the run's earlier steps produced it.
INPUTS = {
    "fetch_citizen": {"citizen_id": "CIT-0000042"},
    "fetch_scheme_rules": {"scheme_name": "scheme_alpha"},
    "evaluate_rules": {"citizen": CITIZEN, "rules": RULES},
}


def check_template() -> LoadedTemplate:
    """The shipped eligibility_check."""
    return TemplateRegistry.load_directory(SHIPPED, TASK_CONTRACTS).get("eligibility_check")


def check_instance() -> InstanceRecord:
    """A running check of CIT-0000042, one step done."""
    return InstanceRecord(
        instance_id=INSTANCE_ID,
        template_id="eligibility_check",
        template_version=shipped_template_version("eligibility_check"),
        status="running",
        inputs={"citizen_id": "CIT-0000042", "scheme_name": "scheme_alpha"},
        outputs={},
        error=None,
        appealed_instance_id=None,
        created_at=MOMENT,
        completed_at=None,
        actor="clerk",
        progress=RunProgress(steps_completed=1, steps_total=4),
    )


def step_attempt(step_index: int, name: str, attempt: int, output: dict, kind: ErrorKind | None = None) -> StepAttempt:
    return StepAttempt(
        step_index=step_index,
        step_name=name,
        attempt=attempt,
        started_at=MOMENT,
        completed_at=MOMENT,
        input=INPUTS.get(name, {}),
        output=output,
        error_kind=kind,
        error="" if kind is None else "evaluator unavailable",
    )
