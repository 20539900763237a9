"""REST answers an impact report as exactly the document the orchestrator stored, new fields and old reports alike."""

from __future__ import annotations

import json
from typing import Any

from gateway.conversions import impact_report
from orchestrator.impact.report import ImpactReport
from tests.support.impact_reports import BASELINE, EVALUATION, PROPOSED, STORED_BEFORE_VERSIONS


def _rest(report: ImpactReport) -> dict[str, Any]:
    answered: dict[str, Any] = json.loads(impact_report(report.to_proto()).model_dump_json(by_alias=True))
    return answered


def test_rest_gives_the_stored_report() -> None:
    report = ImpactReport.from_evaluation(EVALUATION, instance_id="i-1", baseline=BASELINE, proposed=PROPOSED)

    answered = _rest(report)

    assert answered == json.loads(json.dumps(report.to_document()))
    assert answered["proposed_version"] is None and answered["baseline_version"] == 1
    assert list(answered["by_category"]) == ["general", "obc", "sc", "st"]


def test_rest_gives_a_report_stored_before_versions_with_nulls_and_no_categories() -> None:
    stored = STORED_BEFORE_VERSIONS

    answered = _rest(ImpactReport.from_document(stored))

    assert answered == {
        **stored,
        "baseline_version": None,
        "proposed_version": None,
        "baseline_rule_hash": None,
        "proposed_rule_hash": None,
        "by_category": {},
        "failed": 0,
        "failures": [],
    }
