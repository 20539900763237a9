"""The impact report: one model, its stored JSON and its protobuf; reports stored before versions still read."""

from __future__ import annotations

import json

from civicflow.rules.attributes import CATEGORIES
from orchestrator.impact.report import CategoryImpact, DecisionCounts, ImpactReport
from tests.support.impact_reports import (
    BASELINE,
    EVALUATION,
    PROPOSED,
    STORED_BEFORE_VERSIONS,
    category_counts,
)


def _report() -> ImpactReport:
    return ImpactReport.from_evaluation(EVALUATION, instance_id="i-1", baseline=BASELINE, proposed=PROPOSED)


def test_the_report_names_both_documents_and_counts_bycategory_counts() -> None:
    document = _report().to_document()

    assert (document["baseline_version"], document["proposed_version"]) == (1, None)
    assert document["baseline_rule_hash"] == BASELINE["rule_hash"] != document["proposed_rule_hash"]
    assert document["proposed_rule_hash"] == PROPOSED["rule_hash"]
    assert document["current_rules"] == BASELINE["document"]["parameters"]
    assert document["proposed_rules"] == {**BASELINE["document"]["parameters"], "max_income": 200000}
    assert list(document["by_category"]) == list(CATEGORIES)
    assert document["by_category"]["sc"] == category_counts(2)
    assert (document["eligible"], document["baseline"]["needs_review"], document["failed"]) == (1, 1, 1)


def test_a_proposed_version_is_reported_as_its_number() -> None:
    proposed = {**BASELINE, "version": 2, "status": "draft"}

    report = ImpactReport.from_evaluation(EVALUATION, instance_id="i-1", baseline=BASELINE, proposed=proposed)

    assert (report.baseline_version, report.proposed_version) == (1, 2)


def test_the_stored_json_reads_back_as_the_same_report() -> None:
    report = _report()

    assert ImpactReport.from_document(json.loads(json.dumps(report.to_document()))) == report


def test_the_protobuf_carries_every_field() -> None:
    message = _report().to_proto()

    assert (message.baseline_version, message.proposed_version) == (1, 0)
    assert message.baseline_rule_hash == BASELINE["rule_hash"]
    assert json.loads(message.proposed_rules_json) == PROPOSED["document"]["parameters"]
    assert json.loads(message.current_rules_json) == BASELINE["document"]["parameters"]
    assert [impact.category for impact in message.by_category] == list(CATEGORIES)
    assert message.by_category[2].total == 2 and message.by_category[2].baseline.not_eligible == 2
    assert message.by_category[2].proposed.eligible == 2
    assert (message.failed, message.failures[0].citizen_id) == (1, "CIT-0000003")


def test_a_report_stored_before_versions_and_categories_still_reads() -> None:
    stored = STORED_BEFORE_VERSIONS

    report = ImpactReport.from_document(stored)

    assert report.baseline_version is None and report.proposed_rule_hash is None and report.by_category == ()
    assert report.proposed == DecisionCounts(1, 1, 1) and report.failed == 0
    message = report.to_proto()
    assert (message.baseline_version, message.baseline_rule_hash, list(message.by_category)) == (0, "", [])
    assert json.loads(message.proposed_rules_json) == stored["proposed_rules"]


def test_a_category_impact_puts_the_proposed_counts_at_the_top() -> None:
    impact = CategoryImpact.from_json("st", category_counts(5))

    assert impact.to_json() == category_counts(5)
    assert impact.proposed == DecisionCounts(5, 0, 0) and impact.baseline == DecisionCounts(0, 5, 0)
