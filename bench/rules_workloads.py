"""Rules as data under load: a versioned proposal against the fixed-rule one, and a ten-criterion decision.

Both compare two workloads measured in the same system, interleaved, so that the machine's
drift falls on both alike and the ratio is the figure:

* a million citizens under scheme_delta version 1 against a draft version 2 that raises the
  bases (every attribute read, categories and households sent), against scheme_alpha with
  `proposed_rules` (two attributes);
* sequential eligibility checks under a ten-criterion document against the three-criterion
  scheme_beta.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bench.workloads import CHECK_SCHEME as THREE_CRITERIA_SCHEME
from bench.workloads import IMPACT_PROPOSED_RULES as ALPHA_PROPOSED_RULES
from bench.workloads import IMPACT_SCHEME as ALPHA_SCHEME
from bench.workloads import JsonPoster, RunFailedError, execute, percentile_ms
from civicflow.settings import REPO_ROOT

DELTA_SCHEME = "scheme_delta"
TEN_CRITERIA_SCHEME = "bench_ten_criteria"
# Published from the seed versions' date, so that it is in force for every check.
EFFECTIVE_FROM = "2000-01-01"
# The checks of each burst: citizen numbers far from those of the other workloads.
FIRST_CITIZEN = 5_000_001

_CATEGORY_BASE = {
    "if": [
        {"==": [{"var": "category"}, "general"]},
        {"param": "base_general"},
        {
            "if": [
                {"==": [{"var": "category"}, "obc"]},
                {"param": "base_obc"},
                {"if": [{"==": [{"var": "category"}, "sc"]}, {"param": "base_sc"}, {"param": "base_st"}]},
            ]
        },
    ]
}
_CEILING = {"+": [_CATEGORY_BASE, {"*": [{"param": "per_extra_member"}, {"-": [{"var": "household_size"}, 1]}]}]}


def _criterion(criterion_id: str, kind: str, test: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": criterion_id, "kind": kind, "description": criterion_id.replace("_", " "), "test": test}


# Every attribute, every kind of operator, seven exclusions and three reviews.
TEN_CRITERIA_DOCUMENT: dict[str, Any] = {
    "description": "Benchmark: ten criteria over every attribute",
    "parameters": {
        "min_age": 18,
        "max_age": 65,
        "max_age_with_disability": 70,
        "base_general": 200000,
        "base_obc": 240000,
        "base_sc": 280000,
        "base_st": 280000,
        "per_extra_member": 40000,
        "review_fraction": 0.9,
        "categories": ["general", "obc", "sc", "st"],
        "max_household": 8,
        "min_income": 0,
        "senior_age": 60,
        "large_household": 6,
    },
    "criteria": [
        _criterion("minimum_age", "exclusion", {">=": [{"var": "age"}, {"param": "min_age"}]}),
        _criterion(
            "maximum_age",
            "exclusion",
            {
                "<=": [
                    {"var": "age"},
                    {"if": [{"var": "has_disability"}, {"param": "max_age_with_disability"}, {"param": "max_age"}]},
                ]
            },
        ),
        _criterion("known_category", "exclusion", {"in": [{"var": "category"}, {"param": "categories"}]}),
        _criterion("household_size", "exclusion", {"<=": [{"var": "household_size"}, {"param": "max_household"}]}),
        _criterion("income_recorded", "exclusion", {">=": [{"var": "income"}, {"param": "min_income"}]}),
        _criterion("income_ceiling", "exclusion", {"<=": [{"var": "income"}, _CEILING]}),
        _criterion(
            "income_per_member",
            "exclusion",
            {"<=": [{"/": [{"var": "income"}, {"var": "household_size"}]}, {"max": [_CATEGORY_BASE, 100000]}]},
        ),
        _criterion(
            "review_band", "review", {"<": [{"var": "income"}, {"*": [{"param": "review_fraction"}, _CEILING]}]}
        ),
        _criterion(
            "senior_without_disability",
            "review",
            {"or": [{"<": [{"var": "age"}, {"param": "senior_age"}]}, {"var": "has_disability"}]},
        ),
        _criterion(
            "large_household",
            "review",
            {"not": [{">=": [{"var": "household_size"}, {"param": "large_household"}]}]},
        ),
    ],
}
# scheme_delta's version 1 with every base raised by 20,000: what an analyst would try.
DELTA_DRAFT_BASES = {"base_general": 220000, "base_obc": 260000, "base_sc": 300000, "base_st": 300000}


@dataclass(frozen=True)
class RuleVersions:
    """What the workloads need made through the API first."""

    delta_draft_version: int


@dataclass(frozen=True)
class VersionedImpactTiming:
    """Seconds per run of each, interleaved: alpha with proposed_rules, delta against a draft version."""

    population: int
    alpha_seconds: tuple[float, ...]
    delta_seconds: tuple[float, ...]

    @property
    def ratio(self) -> float:
        return statistics.median(self.delta_seconds) / statistics.median(self.alpha_seconds)


@dataclass(frozen=True)
class CriteriaCheckTiming:
    """Sequential eligibility checks under three and under ten criteria, in interleaved bursts."""

    three_latencies: tuple[float, ...]
    ten_latencies: tuple[float, ...]

    @property
    def ratio(self) -> float:
        return percentile_ms(self.ten_latencies, 50) / percentile_ms(self.three_latencies, 50)


def seed_document(scheme_name: str) -> dict[str, Any]:
    """The document of the scheme's version 1, as the repository seeds it."""
    seed: dict[str, Any] = json.loads((REPO_ROOT / "schemes" / f"{scheme_name}.json").read_text())
    return seed["document"]  # type: ignore[no-any-return]


def prepare_rule_versions(*, analyst: JsonPoster, admin: JsonPoster, delta_document: Mapping[str, Any]) -> RuleVersions:
    """Drafts scheme_delta's version 2 (analyst) and puts a ten-criterion scheme in force (analyst drafts, admin
    publishes: a draft's author may not publish it)."""
    draft = {**delta_document, "parameters": {**delta_document["parameters"], **DELTA_DRAFT_BASES}}
    delta_version = _created(analyst.post(f"/schemes/{DELTA_SCHEME}/versions", json=draft))
    ten_version = _created(analyst.post(f"/schemes/{TEN_CRITERIA_SCHEME}/versions", json=TEN_CRITERIA_DOCUMENT))
    reply = admin.post(
        f"/schemes/{TEN_CRITERIA_SCHEME}/versions/{ten_version}/publish", json={"effective_from": EFFECTIVE_FROM}
    )
    if reply.status_code != 200:
        raise RunFailedError(f"publishing {TEN_CRITERIA_SCHEME} answered HTTP {reply.status_code}: {reply.text[:500]}")
    return RuleVersions(delta_draft_version=delta_version)


def time_versioned_impact(
    client: JsonPoster, versions: RuleVersions, *, population: int, runs: int
) -> VersionedImpactTiming:
    alpha = {"scheme_name": ALPHA_SCHEME, "population_size": population, "proposed_rules": ALPHA_PROPOSED_RULES}
    delta = {
        "scheme_name": DELTA_SCHEME,
        "population_size": population,
        "proposed_version": versions.delta_draft_version,
    }
    alpha_seconds: list[float] = []
    delta_seconds: list[float] = []
    for run in range(runs):
        # Who goes first alternates, so neither always follows the other's writes.
        order = [(alpha, alpha_seconds), (delta, delta_seconds)]
        for inputs, seconds in order if run % 2 == 0 else order[::-1]:
            elapsed, body = execute(client, "impact_analysis", inputs)
            if body["outputs"]["impact_report"]["total"] != population:
                raise RunFailedError(f"impact_analysis of {inputs['scheme_name']} did not cover {population} citizens")
            seconds.append(elapsed)
    return VersionedImpactTiming(population, tuple(alpha_seconds), tuple(delta_seconds))


def time_criteria_checks(client: JsonPoster, *, bursts: int, per_burst: int) -> CriteriaCheckTiming:
    three: list[float] = []
    ten: list[float] = []
    citizen = FIRST_CITIZEN
    for burst in range(bursts):
        order = [(THREE_CRITERIA_SCHEME, 3, three), (TEN_CRITERIA_SCHEME, 10, ten)]
        for scheme, criteria, latencies in order if burst % 2 == 0 else order[::-1]:
            for number in range(citizen, citizen + per_burst):
                elapsed, body = execute(
                    client, "eligibility_check", {"citizen_id": f"CIT-{number}", "scheme_name": scheme}
                )
                if len(body["outputs"]["decision"]["reasons"]) != criteria:
                    raise RunFailedError(f"eligibility_check under {scheme} did not report its {criteria} criteria")
                latencies.append(elapsed)
            citizen += per_burst
    return CriteriaCheckTiming(tuple(three), tuple(ten))


def _created(reply: Any) -> int:
    if reply.status_code != 201:
        raise RunFailedError(f"creating a scheme version answered HTTP {reply.status_code}: {reply.text[:500]}")
    return int(reply.json()["version"])
