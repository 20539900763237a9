"""The seeded scheme versions (schemes/<name>.json) as tests need them: documents, and the rules value R runs carry."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from civicflow.rules.document import parse_document, rule_hash, with_parameters
from civicflow.settings import REPO_ROOT


def seed(scheme_name: str) -> dict[str, Any]:
    return dict(json.loads((REPO_ROOT / "schemes" / f"{scheme_name}.json").read_text()))


def seeded_document(scheme_name: str, **parameters: Any) -> dict[str, Any]:
    """The document of a seeded scheme's version 1, with some parameters' values replaced."""
    document = seed(scheme_name)["document"]
    return {**document, "parameters": {**document["parameters"], **parameters}}


def seeded_reference(scheme_name: str) -> dict[str, Any]:
    """What fetch_scheme_rules outputs for a seeded scheme's version 1: the version by reference, as runs carry it."""
    return {key: value for key, value in seeded_rules(scheme_name).items() if key != "document"}


def seeded_rules(scheme_name: str) -> dict[str, Any]:
    """A seeded scheme's version 1 as a rules value with its document, as the tasks that read it see it."""
    content = seed(scheme_name)
    return {
        "scheme_name": content["scheme_name"],
        "version": content["version"],
        "status": "published",
        "effective_from": content["effective_from"],
        "rule_hash": rule_hash(content["document"]),
        "document": content["document"],
    }


def overridden_rules(rules: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """What an impact analysis's proposed_rules make of `rules`: the document with those parameters, version 0."""
    document = with_parameters(parse_document(rules["document"]), overrides, field="proposed_rules")
    return {
        "scheme_name": rules["scheme_name"],
        "version": 0,
        "status": "proposed",
        "effective_from": None,
        "rule_hash": document.rule_hash,
        "document": document.content,
    }


def shipped_template_version(template_id: str) -> str:
    """The version of a shipped template: a run stored under any other is not resumed."""
    return str(json.loads((REPO_ROOT / "templates" / f"{template_id}.json").read_text())["version"])
