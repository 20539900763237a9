"""apply_proposed_rules: the proposal is the fetched version, the baseline with overrides, or the baseline."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import sqlalchemy as sa

from civicflow.rules.document import rule_hash
from orchestrator.errors import StepFailedError
from orchestrator.schemes.documents import SchemeDocuments
from orchestrator.schemes.store import SchemeVersionStore
from orchestrator.tasks.contract import NoConfig, TaskContext
from orchestrator.tasks.impact import apply_proposed_rules
from tests.support.seeded_schemes import seeded_rules

CONTEXT = TaskContext(instance_id=uuid.uuid4(), call_timeout=5.0)
# Every rules value here carries its document, so the store is never read: its engine names no database at all.
DOCUMENTS = SchemeDocuments(SchemeVersionStore(sa.create_engine("postgresql+psycopg2:///no_database_at_all")))


def _proposal(**inputs: Any) -> dict[str, Any]:
    output = asyncio.run(apply_proposed_rules(inputs, NoConfig(), CONTEXT, documents=DOCUMENTS))
    assert set(output) == {"proposed_rules"}
    return dict(output["proposed_rules"])


def test_overrides_make_a_proposed_document_that_is_no_stored_version() -> None:
    baseline = seeded_rules("scheme_delta")

    proposed = _proposal(rules=baseline, proposed_rules={"base_general": 220000, "per_extra_member": 50000})

    assert {key: proposed[key] for key in ("scheme_name", "version", "status", "effective_from")} == {
        "scheme_name": "scheme_delta",
        "version": 0,
        "status": "proposed",
        "effective_from": None,
    }
    parameters = proposed["document"]["parameters"]
    assert (parameters["base_general"], parameters["per_extra_member"]) == (220000, 50000)
    assert {k: v for k, v in parameters.items() if k not in ("base_general", "per_extra_member")} == {
        k: v for k, v in baseline["document"]["parameters"].items() if k not in ("base_general", "per_extra_member")
    }
    assert proposed["document"]["criteria"] == baseline["document"]["criteria"]
    assert proposed["rule_hash"] == rule_hash(proposed["document"]) != baseline["rule_hash"]
    assert baseline["document"]["parameters"]["base_general"] == 200000  # the baseline is not touched


def test_a_proposed_version_is_the_fetched_version_as_it_is() -> None:
    baseline = seeded_rules("scheme_alpha")
    fetched = {**seeded_rules("scheme_alpha"), "version": 2, "status": "draft", "effective_from": None}

    assert _proposal(rules=baseline, proposed_version=2, version_rules=fetched) == fetched


def test_without_a_proposal_the_fetched_version_is_ignored_and_the_baseline_is_compared_with_itself() -> None:
    baseline = seeded_rules("scheme_alpha")
    in_force_today = {**baseline, "version": 3}

    assert _proposal(rules=baseline, version_rules=in_force_today) == baseline
    assert _proposal(rules=baseline, proposed_rules={}, version_rules=in_force_today) == baseline


def test_both_a_version_and_overrides_fail_the_step_rather_than_choose() -> None:
    baseline = seeded_rules("scheme_alpha")

    with pytest.raises(StepFailedError, match="not both"):
        _proposal(rules=baseline, proposed_rules={"max_age": 70}, proposed_version=1, version_rules=baseline)


def test_a_fetched_version_other_than_the_one_proposed_fails_the_step() -> None:
    baseline = seeded_rules("scheme_alpha")

    with pytest.raises(StepFailedError, match="version 4 of scheme_alpha was not fetched"):
        _proposal(rules=baseline, proposed_version=4, version_rules=baseline)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"min_income": 1000}, "inputs.proposed_rules.min_income: the document has no parameter 'min_income'"),
        ({"max_income": {"amount": 1}}, "inputs.proposed_rules.max_income"),
        # A string where the criteria compare a number: found by the document's type check.
        ({"max_income": "lots"}, "inputs.proposed_rules"),
    ],
    ids=["unknown-parameter", "not-a-value", "wrong-type"],
)
def test_an_override_the_document_cannot_take_fails_the_step_naming_the_parameter(
    overrides: dict[str, Any], named: str
) -> None:
    with pytest.raises(StepFailedError) as failed:
        _proposal(rules=seeded_rules("scheme_alpha"), proposed_rules=overrides)

    assert "proposed_rules do not fit scheme_alpha version 1" in str(failed.value)
    assert named in str(failed.value)
