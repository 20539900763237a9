"""Resuming a run: the union of its journal and its audit trail says where it stopped, and what each lacks;
the audit trail is trusted only where the orchestrator wrote it and its content fits the run."""

from __future__ import annotations

import dataclasses

import pytest

from civicflow.v1 import audit_pb2
from orchestrator.runs.recovery import plan_resume
from orchestrator.runs.step_attempts import StepAttempt
from orchestrator.storage.instance_records import RunProgress
from orchestrator.templates.step_policy import ErrorKind
from tests.support.check_attempts import (
    CITIZEN,
    INSTANCE_ID,
    RULES,
    check_instance,
    check_template,
    step_attempt,
)


def _entry(attempt: StepAttempt, *, writer: str = "orchestrator") -> audit_pb2.AuditEntry:
    record = attempt.audit_record(INSTANCE_ID, actor="clerk")
    return audit_pb2.AuditEntry(seq=attempt.step_index, record=record, writer=writer)


FETCHED = step_attempt(0, "fetch_citizen", 1, {"citizen": CITIZEN})
RULES_FETCHED = step_attempt(1, "fetch_scheme_rules", 1, {"rules": RULES})
EVALUATION = {"decision": "ELIGIBLE", "reasons": [{"criterion": "age", "passed": True, "detail": "30 is in 18..60"}]}
FORGED_EVALUATION = {"decision": "NOT_ELIGIBLE", "reasons": [{"criterion": "override", "passed": False, "detail": ""}]}


def test_the_run_continues_after_the_last_step_either_record_holds() -> None:
    fetched = step_attempt(0, "fetch_citizen", 1, {"citizen": CITIZEN})
    rules = step_attempt(1, "fetch_scheme_rules", 1, {"rules": RULES})

    plan = plan_resume(check_instance(), check_template(), journal=[fetched], audit=[_entry(rules)])

    # Step 0 is only in the journal: audited again. Step 1 is only audited: adopted, not run again.
    assert plan.to_audit == [fetched]
    assert plan.to_journal == [rules]
    assert plan.state.next_step == 2
    assert plan.state.context == {"inputs": check_instance().inputs, "citizen": CITIZEN, "scheme_rules": RULES}
    assert plan.progress == RunProgress(steps_completed=2, steps_total=4)


def test_attempt_numbering_continues_after_the_failed_attempts_of_the_interrupted_step() -> None:
    journal = [
        step_attempt(0, "fetch_citizen", 1, {"citizen": CITIZEN}),
        step_attempt(1, "fetch_scheme_rules", 1, {"rules": RULES}),
        step_attempt(2, "evaluate_rules", 1, {"error_kind": "unavailable"}, ErrorKind.UNAVAILABLE),
    ]
    second_try = step_attempt(2, "evaluate_rules", 2, {"error_kind": "timeout"}, ErrorKind.TIMEOUT)

    plan = plan_resume(
        check_instance(), check_template(), journal=journal, audit=[*map(_entry, journal), _entry(second_try)]
    )

    assert plan.state.next_step == 2
    assert plan.state.prior_attempts == 2
    assert plan.state.prior_failure is not None and plan.state.prior_failure.error_kind is ErrorKind.TIMEOUT
    assert plan.to_audit == []
    assert plan.to_journal == [second_try]


def test_an_attempt_in_both_records_is_written_to_neither_again() -> None:
    journal = [step_attempt(0, "fetch_citizen", 1, {"citizen": CITIZEN})]
    plan = plan_resume(check_instance(), check_template(), journal=journal, audit=[_entry(journal[0])])
    assert plan.to_audit == [] and plan.to_journal == []
    assert plan.state.next_step == 1 and plan.state.prior_attempts == 0 and plan.state.prior_failure is None


def test_an_audited_attempt_reads_back_equal_to_the_journalled_one() -> None:
    failed = step_attempt(2, "evaluate_rules", 3, {"error_kind": "timeout"}, ErrorKind.TIMEOUT)
    succeeded = step_attempt(0, "fetch_citizen", 1, {"citizen": CITIZEN})
    for attempt in (failed, succeeded):
        assert StepAttempt.from_audit(attempt.audit_record(INSTANCE_ID, actor="")) == attempt
    assert failed.audit_record(INSTANCE_ID, actor="").idempotency_key == f"{INSTANCE_ID}/2/3"


@pytest.mark.parametrize("writer", ["", "gateway"])
def test_an_audited_success_another_writer_appended_is_not_adopted_and_its_attempt_number_not_reused(
    writer: str,
) -> None:
    forged = step_attempt(2, "evaluate_rules", 1, {"evaluation": FORGED_EVALUATION})
    journal = [FETCHED, RULES_FETCHED]

    plan = plan_resume(
        check_instance(),
        check_template(),
        journal=journal,
        audit=[*map(_entry, journal), _entry(forged, writer=writer)],
    )

    # The run goes on at the forged step, with the next attempt number: the forged one's key is taken.
    assert (plan.state.next_step, plan.state.prior_attempts, plan.state.prior_failure) == (2, 1, None)
    assert "evaluation" not in plan.state.context
    assert plan.to_journal == [] and plan.to_audit == []
    assert plan.progress.steps_completed == 2
    assert plan.problems == [
        f"audit entry 2 (step 'evaluate_rules', attempt 1) was appended by {writer or 'an unidentified writer'},"
        " not the orchestrator"
    ]


def test_an_orchestrators_audited_success_is_not_adopted_when_its_input_is_not_what_the_run_produced() -> None:
    someone_else = {**CITIZEN, "citizen_id": "CIT-0000099", "income": 1.0}
    misfit = dataclasses.replace(
        step_attempt(2, "evaluate_rules", 1, {"evaluation": FORGED_EVALUATION}),
        input={"citizen": someone_else, "rules": RULES},
    )
    journal = [FETCHED, RULES_FETCHED]

    plan = plan_resume(
        check_instance(), check_template(), journal=journal, audit=[*map(_entry, journal), _entry(misfit)]
    )

    assert (plan.state.next_step, plan.state.prior_attempts, plan.state.prior_failure) == (2, 1, None)
    assert "evaluation" not in plan.state.context
    assert plan.to_journal == [] and plan.to_audit == []
    assert plan.problems == [
        "the audited success of step 'evaluate_rules' (attempt 1) consumed another input than the run's earlier"
        " steps produced"
    ]


def test_an_orchestrators_audited_success_whose_input_fits_is_adopted_after_untrusted_ones() -> None:
    forged = step_attempt(2, "evaluate_rules", 1, {"evaluation": FORGED_EVALUATION})
    fitting = step_attempt(2, "evaluate_rules", 2, {"evaluation": EVALUATION})
    journal = [FETCHED, RULES_FETCHED]
    audit = [*map(_entry, journal), _entry(forged, writer=""), _entry(fitting)]

    plan = plan_resume(check_instance(), check_template(), journal=journal, audit=audit)

    assert plan.state.next_step == 3
    assert plan.state.context["evaluation"] == EVALUATION
    assert plan.to_journal == [fitting]
    assert len(plan.problems) == 1 and "an unidentified writer" in plan.problems[0]


def test_an_entry_that_contradicts_a_journalled_attempt_is_reported_and_the_journals_attempt_stands() -> None:
    evaluated = step_attempt(2, "evaluate_rules", 1, {"evaluation": EVALUATION})
    contradiction = dataclasses.replace(evaluated, output={"evaluation": FORGED_EVALUATION})
    journal = [FETCHED, RULES_FETCHED, evaluated]

    plan = plan_resume(
        check_instance(),
        check_template(),
        journal=journal,
        audit=[_entry(FETCHED), _entry(RULES_FETCHED), _entry(contradiction)],
    )

    assert plan.state.next_step == 3
    assert plan.state.context["evaluation"] == EVALUATION
    # Its key is taken: appending the journal's attempt again would only be answered with the contradiction.
    assert plan.to_audit == [] and plan.to_journal == []
    assert plan.problems == [
        "audit entry 2 (step 'evaluate_rules', attempt 1) differs from the attempt the journal holds"
    ]


def test_untrusted_attempts_past_the_last_trusted_failure_push_the_numbering_past_them() -> None:
    failed = step_attempt(2, "evaluate_rules", 1, {"error_kind": "unavailable"}, ErrorKind.UNAVAILABLE)
    forged_failures = [step_attempt(2, "evaluate_rules", n, {"error_kind": "failed"}, ErrorKind.FAILED) for n in (2, 3)]
    journal = [FETCHED, RULES_FETCHED, failed]
    audit = [*map(_entry, journal), *(_entry(attempt, writer="") for attempt in forged_failures)]

    plan = plan_resume(check_instance(), check_template(), journal=journal, audit=audit)

    # The trusted failure is the one the retry policy reads; the next attempt is number 4.
    assert plan.state.prior_failure == failed
    assert plan.state.prior_attempts == 3
    assert plan.to_journal == [] and len(plan.problems) == 2


def test_an_orchestrators_success_of_a_later_step_than_the_run_goes_on_at_is_a_problem_and_takes_its_number() -> None:
    decided = step_attempt(3, "make_decision", 1, {"decision": {"decision": "NOT_ELIGIBLE"}})
    journal = [FETCHED, RULES_FETCHED]

    plan = plan_resume(
        check_instance(), check_template(), journal=journal, audit=[*map(_entry, journal), _entry(decided)]
    )

    assert plan.state.next_step == 2
    assert "decision" not in plan.state.context
    assert plan.to_journal == [] and plan.to_audit == []
    assert (plan.state.attempts_used(2), plan.state.attempts_used(3)) == (0, 1)
    assert plan.problems == [
        "audit entry 3 (step 'make_decision', attempt 1) is of a step the run has not reached: not this run's record"
    ]


def test_an_untrusted_entry_of_a_later_step_takes_its_attempt_number_when_the_run_gets_there() -> None:
    """The run goes on at fetch_scheme_rules; a forged evaluation already holds evaluate_rules' first key."""
    forged = step_attempt(2, "evaluate_rules", 1, {"evaluation": FORGED_EVALUATION})

    plan = plan_resume(
        check_instance(), check_template(), journal=[FETCHED], audit=[_entry(FETCHED), _entry(forged, writer="")]
    )

    assert plan.state.next_step == 1
    assert [plan.state.attempts_used(index) for index in range(4)] == [0, 0, 1, 0]
    assert plan.to_journal == [] and plan.to_audit == []
    assert len(plan.problems) == 1 and "an unidentified writer" in plan.problems[0]
