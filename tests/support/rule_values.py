"""Rule values (R, as fetch_scheme_rules outputs them) made from the seed documents in schemes/, for tests."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from civicflow.rules.document import parse_document, rule_hash, with_parameters
from civicflow.settings import REPO_ROOT


def seed_rules(scheme_name: str) -> dict[str, Any]:
    """Version 1 of a seeded scheme, published from 2000-01-01."""
    seed = json.loads((REPO_ROOT / "schemes" / f"{scheme_name}.json").read_text())
    return {
        "scheme_name": seed["scheme_name"],
        "version": seed["version"],
        "status": "published",
        "effective_from": seed["effective_from"],
        "rule_hash": rule_hash(seed["document"]),
        "document": seed["document"],
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
