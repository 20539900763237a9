"""The decision of record names its rules' version and hash, and each reason's kind and values."""

from __future__ import annotations

import asyncio
import uuid

from orchestrator.tasks.contract import NoConfig, TaskContext
from orchestrator.tasks.eligibility import make_decision

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
