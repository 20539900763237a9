"""REST answers an impact report as exactly the document the orchestrator stored, new fields and old reports alike."""

from __future__ import annotations

import json
from typing import Any

from gateway.conversions import impact_report
from orchestrator.impact.report import ImpactReport
from tests.support.impact_reports import BASELINE, EVALUATION, PROPOSED, TRANSITIONS


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
    stored = {
        "instance_id": "i-0",
        "scheme_name": "scheme_beta",
        "total": 3,
        "eligible": 1,
        "not_eligible": 1,
        "needs_review": 1,
        "baseline": {"eligible": 1, "not_eligible": 1, "needs_review": 1},
        "transitions": TRANSITIONS,
        "current_rules": {"min_age": 21, "max_age": 55, "max_income": 180000},
        "proposed_rules": {"min_age": 25, "max_age": 55, "max_income": 180000},
        "results_digest": "cd" * 32,
    }

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
