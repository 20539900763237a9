"""The seed scheme documents (schemes/*.json) as tests use them: as JSON, with parameters overridden, on the wire."""

from __future__ import annotations

import json
from typing import Any

from civicflow.settings import REPO_ROOT
from civicflow.v1 import evaluator_pb2


def seed_document(scheme_name: str, **parameters: Any) -> dict[str, Any]:
    """The version-1 document of a seed scheme, with some parameters' values replaced."""
    content: dict[str, Any] = json.loads((REPO_ROOT / "schemes" / f"{scheme_name}.json").read_text())["document"]
    return {**content, "parameters": {**content["parameters"], **parameters}}


def rule_document(content: Any, scheme_name: str = "test_scheme", version: int = 1) -> evaluator_pb2.RuleDocument:
    return evaluator_pb2.RuleDocument(scheme_name=scheme_name, version=version, document_json=json.dumps(content))


def seed_rule_document(scheme_name: str, **parameters: Any) -> evaluator_pb2.RuleDocument:
    return rule_document(seed_document(scheme_name, **parameters), scheme_name)
