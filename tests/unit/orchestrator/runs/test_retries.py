"""What a retry takes over from the run it retries: the successes on that run's path up to the step that did not
succeed, never a step that fans out; each a first attempt that names the run it came from, in the journal and in the
audit trail alike."""

from __future__ import annotations

import dataclasses
import json
import uuid

from civicflow.settings import REPO_ROOT
from civicflow.v1 import audit_pb2
from orchestrator.runs.retries import reusable_successes
from orchestrator.runs.step_attempts import REUSED_FROM_OUTPUT, StepAttempt
from orchestrator.tasks import TASK_CONTRACTS
from orchestrator.templates.registry import TemplateRegistry
from orchestrator.templates.step_policy import ErrorKind
from tests.support.check_attempts import CITIZEN, INSTANCE_ID, RULES, check_instance, check_template, step_attempt

RETRY_ID = uuid.UUID("00000000-0000-4000-8000-000000000043")


def test_a_retry_takes_over_the_successes_before_the_step_that_failed_for_good() -> None:
    journal = [
        step_attempt(0, "fetch_citizen", 1, {"citizen": CITIZEN}),
        step_attempt(1, "fetch_scheme_rules", 1, {"error_kind": "unavailable"}, ErrorKind.UNAVAILABLE),
        step_attempt(1, "fetch_scheme_rules", 2, {"rules": RULES}),
        step_attempt(2, "evaluate_rules", 1, {"error_kind": "failed"}, ErrorKind.FAILED),
    ]

    reused = reusable_successes(
        dataclasses.replace(check_instance(), status="failed"), check_template(), journal=journal
    )

    assert [(attempt.step_name, attempt.attempt, attempt.reused_from) for attempt in reused] == [
        ("fetch_citizen", 1, INSTANCE_ID),
        ("fetch_scheme_rules", 1, INSTANCE_ID),
    ]
    assert [attempt.output for attempt in reused] == [{"citizen": CITIZEN}, {"rules": RULES}]


def test_a_retry_of_an_impact_analysis_evaluates_its_population_again() -> None:
    template = TemplateRegistry.load_directory(REPO_ROOT / "templates", TASK_CONTRACTS).get("impact_analysis")
    names = [step.spec.name for step in template.steps]
    journal = [step_attempt(index, name, 1, {"done": index}) for index, name in enumerate(names[:-1])]
    old = dataclasses.replace(check_instance(), template_id="impact_analysis", template_version=template.model.version)

    reused = reusable_successes(old, template, journal=journal)

    assert [attempt.step_name for attempt in reused] == names[: names.index("evaluate_population")]


def test_a_reused_success_names_the_run_it_came_from_in_its_audit_output_and_reads_back_the_same() -> None:
    original = step_attempt(0, "fetch_citizen", 1, {"citizen": CITIZEN})
    reused = dataclasses.replace(original, reused_from=INSTANCE_ID)

    record = reused.audit_record(RETRY_ID, actor="clerk")

    assert json.loads(record.output_json) == {"citizen": CITIZEN, REUSED_FROM_OUTPUT: str(INSTANCE_ID)}
    assert record.input_json == original.audit_record(INSTANCE_ID, actor="clerk").input_json
    assert record.idempotency_key == f"{RETRY_ID}/0/1"
    assert StepAttempt.from_audit(record) == reused
    assert reused.journal_row()["reused_from"] == str(INSTANCE_ID)


def test_a_success_only_the_audit_trail_holds_is_taken_over_too() -> None:
    fetched = step_attempt(0, "fetch_citizen", 1, {"citizen": CITIZEN})
    rules = step_attempt(1, "fetch_scheme_rules", 1, {"rules": RULES})
    audited = audit_pb2.AuditEntry(seq=7, record=rules.audit_record(INSTANCE_ID, actor="clerk"), writer="orchestrator")
    old = dataclasses.replace(check_instance(), status="cancelled")

    reused = reusable_successes(old, check_template(), journal=[fetched], audit=[audited])

    assert [(attempt.step_name, attempt.output) for attempt in reused] == [
        ("fetch_citizen", {"citizen": CITIZEN}),
        ("fetch_scheme_rules", {"rules": RULES}),
    ]
