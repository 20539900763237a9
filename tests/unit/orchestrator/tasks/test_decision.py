"""The decision of record names its rules' version and hash, and each reason's kind and values."""

from __future__ import annotations

import asyncio
import json
import uuid

from civicflow.canonical_json import canonical_json
from civicflow.v1 import evaluator_pb2
from orchestrator.tasks.contract import NoConfig, TaskContext
from orchestrator.tasks.eligibility import citizen_profile, make_decision, rule_document

CONTEXT = TaskContext(instance_id=uuid.uuid4(), call_timeout=5.0)
DOCUMENT = {"parameters": {"max_income": 250000}, "criteria": [], "description": "ü"}
RULES = {
    "scheme_name": "scheme_alpha",
    "version": 3,
    "status": "published",
    "effective_from": "2026-04-01",
    "rule_hash": "ab" * 32,
    "document": DOCUMENT,
}
REASON = {
    "criterion": "income_ceiling",
    "kind": "exclusion",
    "passed": True,
    "detail": "income 120000 <= max_income 250000",
    "values": {"income": 120000, "max_income": 250000},
}


def test_the_decision_carries_the_version_and_hash_beside_the_verdict_and_reasons() -> None:
    evaluation = {"decision": "ELIGIBLE", "rule_hash": "ab" * 32, "reasons": [REASON]}
    citizen = {"citizen_id": "CIT-0000001", "name": "Tara Rao", "age": 30, "income": 120000, "category": "sc"}

    output = asyncio.run(
        make_decision({"citizen": citizen, "rules": RULES, "evaluation": evaluation}, NoConfig(), CONTEXT)
    )

    assert output == {
        "decision": {
            "decision": "ELIGIBLE",
            "citizen_id": "CIT-0000001",
            "scheme_name": "scheme_alpha",
            "scheme_version": 3,
            "rule_hash": "ab" * 32,
            "reasons": [REASON],
        }
    }


def test_the_evaluator_receives_the_document_as_canonical_json_under_its_version() -> None:
    document = rule_document(RULES)

    assert (document.scheme_name, document.version) == ("scheme_alpha", 3)
    assert document.document_json == canonical_json(DOCUMENT)
    assert json.loads(document.document_json) == DOCUMENT


def test_the_evaluator_receives_the_household_and_disability_an_appeal_corrected() -> None:
    citizen = {
        "citizen_id": "CIT-0000042",
        "name": "Arjun Joshi",
        "age": 48,
        "income": 114920,
        "category": "st",
        "household_size": 5,
        "has_disability": True,
    }

    profile = citizen_profile(citizen)

    assert (profile.household_size, profile.has_disability) == (5, True)
    assert (profile.age, profile.income, profile.category) == (48, 114920.0, evaluator_pb2.CATEGORY_ST)
