"""An appeal decides under the version its original decision was made under, or, before versions, on its date."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone
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


def test_a_decision_made_before_versions_is_appealed_under_the_version_in_force_on_its_as_of() -> None:
    original = _original(
        outputs={"decision": DECIDED},
        inputs={"citizen_id": "CIT-0000042", "scheme_name": "scheme_alpha", "as_of": "2026-01-31"},
        created_at=datetime(2026, 11, 30, 12, tzinfo=UTC),
    )

    assert rules_pin(original, decision_output="decision.decision") == {"as_of": "2026-01-31"}


def test_without_an_as_of_it_is_the_day_the_run_was_created_in_utc() -> None:
    # 01:30 on the 1st in India is still the 30th of November in UTC.
    india = timezone(timedelta(hours=5, minutes=30))
    original = _original(outputs={"decision": DECIDED}, created_at=datetime(2026, 12, 1, 1, 30, tzinfo=india))

    assert rules_pin(original, decision_output="decision.decision") == {"as_of": "2026-11-30"}


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

        assert rules_pin(original, decision_output="decision.decision") == {"as_of": "2026-11-30"}
