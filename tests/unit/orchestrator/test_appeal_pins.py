"""An appeal decides under the version its original decision was made under; before versions, under version 1."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from orchestrator.appeals import rules_pin
from orchestrator.storage.instance_records import COMPLETED, InstanceRecord

DECIDED = {"decision": "ELIGIBLE", "citizen_id": "CIT-0000042", "scheme_name": "scheme_alpha", "reasons": []}


def _original(*, outputs: dict[str, Any], inputs: dict[str, Any] | None = None, created_at: datetime) -> InstanceRecord:
    return InstanceRecord(
        instance_id=uuid.uuid4(),
        template_id="eligibility_check",
        template_version="1.1.0",
        status=COMPLETED,
        inputs=inputs or {"citizen_id": "CIT-0000042", "scheme_name": "scheme_alpha"},
        outputs=outputs,
        error=None,
        appealed_instance_id=None,
        created_at=created_at,
        completed_at=created_at,
    )


def test_a_decision_under_a_version_is_appealed_under_that_version_and_no_date() -> None:
    original = _original(
        outputs={"decision": {**DECIDED, "scheme_version": 3}},
        inputs={"citizen_id": "CIT-0000042", "scheme_name": "scheme_alpha", "as_of": "2026-01-31"},
        created_at=datetime(2026, 11, 30, 12, tzinfo=UTC),
    )

    assert rules_pin(original, decision_output="decision.decision") == {"scheme_version": 3}


def test_a_decision_made_before_versions_is_appealed_under_version_1_whatever_its_date() -> None:
    # The fixed rules became each scheme's version 1; a version published later may be in force from any
    # earlier date, so the decision's date would not find the rules it was made under.
    for inputs in ({"citizen_id": "CIT-0000042", "scheme_name": "scheme_alpha", "as_of": "2026-01-31"}, None):
        original = _original(
            outputs={"decision": DECIDED}, inputs=inputs, created_at=datetime(2026, 11, 30, tzinfo=UTC)
        )

        assert rules_pin(original, decision_output="decision.decision") == {"scheme_version": 1}


def test_the_version_is_read_beside_the_decision_wherever_the_template_puts_it() -> None:
    original = _original(
        outputs={"verdict": {"outcome": "ELIGIBLE", "scheme_version": 2}, "decision": {"scheme_version": 9}},
        created_at=datetime(2026, 11, 30, 12, tzinfo=UTC),
    )

    assert rules_pin(original, decision_output="verdict.outcome") == {"scheme_version": 2}


def test_a_version_that_is_not_a_number_is_no_version() -> None:
    for version in (True, "2", None, 2.0):
        original = _original(
            outputs={"decision": {**DECIDED, "scheme_version": version}}, created_at=datetime(2026, 11, 30, tzinfo=UTC)
        )

        assert rules_pin(original, decision_output="decision.decision") == {"scheme_version": 1}
