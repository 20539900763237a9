"""Scheme documents on the evaluator's wire (RuleDocument), as the evaluator's tests send them."""

from __future__ import annotations

import json
from typing import Any

from civicflow.v1 import evaluator_pb2
from tests.support.seeded_schemes import seeded_document


def rule_document(content: Any, scheme_name: str = "test_scheme", version: int = 1) -> evaluator_pb2.RuleDocument:
    return evaluator_pb2.RuleDocument(scheme_name=scheme_name, version=version, document_json=json.dumps(content))


def seed_rule_document(scheme_name: str, **parameters: Any) -> evaluator_pb2.RuleDocument:
    return rule_document(seeded_document(scheme_name, **parameters), scheme_name)
