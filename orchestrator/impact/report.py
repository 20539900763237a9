"""The report of an impact analysis: one model, stored as the run's `impact_report` output and sent as protobuf."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from civicflow.canonical_json import canonical_json
from civicflow.decisions import DECISION_NAMES, DECISION_VALUES
from civicflow.v1 import orchestrator_pb2
from orchestrator.impact.outcome import CategoryCounts, FailureRow

COUNT_NAMES = tuple(name.lower() for name in DECISION_NAMES.values())


@dataclass(frozen=True)
class DecisionCounts:
    eligible: int
    not_eligible: int
    needs_review: int

    @classmethod
    def from_names(cls, counts: Mapping[str, int]) -> DecisionCounts:
        return cls(**{name: counts[name] for name in COUNT_NAMES})

    @classmethod
    def from_decisions(cls, counts: Mapping[int, int]) -> DecisionCounts:
        """From counts by Decision value, as the tally keeps them."""
        return cls.from_names({DECISION_NAMES[decision].lower(): count for decision, count in counts.items()})

    def to_json(self) -> dict[str, int]:
        return {"eligible": self.eligible, "not_eligible": self.not_eligible, "needs_review": self.needs_review}

    def to_proto(self) -> orchestrator_pb2.DecisionCounts:
        return orchestrator_pb2.DecisionCounts(**self.to_json())


@dataclass(frozen=True)
class CategoryImpact:
    """The citizens of one category: how many, and their decisions under both documents."""

    category: str
    total: int
    proposed: DecisionCounts
    baseline: DecisionCounts

    @classmethod
    def from_tally(cls, category: str, counts: CategoryCounts) -> CategoryImpact:
        return cls(
            category=category,
            total=counts.total,
            proposed=DecisionCounts.from_decisions(counts.proposed),
            baseline=DecisionCounts.from_decisions(counts.baseline),
        )

    @classmethod
    def from_json(cls, category: str, counts: Mapping[str, Any]) -> CategoryImpact:
        return cls(
            category=category,
            total=counts["total"],
            proposed=DecisionCounts.from_names(counts),
            baseline=DecisionCounts.from_names(counts["baseline"]),
        )

    def to_json(self) -> dict[str, Any]:
        """As the report's own counts: the proposed ones at the top."""
        return {"total": self.total, **self.proposed.to_json(), "baseline": self.baseline.to_json()}

    def to_proto(self) -> orchestrator_pb2.CategoryImpact:
        return orchestrator_pb2.CategoryImpact(
            category=self.category,
            total=self.total,
            proposed=self.proposed.to_proto(),
            baseline=self.baseline.to_proto(),
        )


@dataclass(frozen=True)
class ImpactReport:
    instance_id: str
    scheme_name: str
    total: int
    proposed: DecisionCounts
    baseline: DecisionCounts
    # (from, to, count) by decision name, all nine pairs in report order.
    transitions: tuple[tuple[str, str, int], ...]
    # The `parameters` of the baseline and of the proposed document.
    current_rules: Mapping[str, Any]
    proposed_rules: Mapping[str, Any]
    results_digest: str
    # Citizens the evaluator could not decide (within the step's tolerance): in no count above.
    failed: int
    failures: tuple[FailureRow, ...]
    # None for a proposal made of proposed_rules overrides (version 0), and in reports stored before versions.
    baseline_version: int | None = None
    proposed_version: int | None = None
    baseline_rule_hash: str | None = None
    proposed_rule_hash: str | None = None
    # In the order general, obc, sc, st; empty in reports stored before categories were counted.
    by_category: tuple[CategoryImpact, ...] = ()

    @classmethod
    def from_evaluation(
        cls,
        evaluation: Mapping[str, Any],
        *,
        instance_id: str,
        baseline: Mapping[str, Any],
        proposed: Mapping[str, Any],
    ) -> ImpactReport:
        """The report of an `evaluate_population` step's output (its audit entry) under the rule values (R)
        `baseline` and `proposed`."""
        return cls(
            instance_id=instance_id,
            scheme_name=baseline["scheme_name"],
            total=evaluation["total"],
            proposed=DecisionCounts.from_names(evaluation["proposed"]),
            baseline=DecisionCounts.from_names(evaluation["baseline"]),
            transitions=tuple((item["from"], item["to"], item["count"]) for item in evaluation["transitions"]),
            current_rules=baseline["document"]["parameters"],
            proposed_rules=proposed["document"]["parameters"],
            results_digest=evaluation["results_digest"],
            failed=evaluation["failed"],
            failures=tuple(FailureRow(**failure) for failure in evaluation["failures"]),
            baseline_version=baseline["version"] or None,
            proposed_version=proposed["version"] or None,
            baseline_rule_hash=baseline["rule_hash"],
            proposed_rule_hash=proposed["rule_hash"],
            by_category=_by_category(evaluation["by_category"]),
        )

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> ImpactReport:
        return cls(
            instance_id=document["instance_id"],
            scheme_name=document["scheme_name"],
            total=document["total"],
            proposed=DecisionCounts.from_names(document),
            baseline=DecisionCounts.from_names(document["baseline"]),
            transitions=tuple((item["from"], item["to"], item["count"]) for item in document["transitions"]),
            current_rules=document["current_rules"],
            proposed_rules=document["proposed_rules"],
            results_digest=document["results_digest"],
            # Reports stored before failures were tolerated have neither field: nobody failed in them.
            failed=document.get("failed", 0),
            failures=tuple(FailureRow(**failure) for failure in document.get("failures", [])),
            # Reports stored before rules were versioned documents have none of these.
            baseline_version=document.get("baseline_version"),
            proposed_version=document.get("proposed_version"),
            baseline_rule_hash=document.get("baseline_rule_hash"),
            proposed_rule_hash=document.get("proposed_rule_hash"),
            by_category=_by_category(document.get("by_category", {})),
        )

    def to_document(self) -> dict[str, Any]:
        """The JSON the run stores as its `impact_report` output and REST answers (proposed counts at the top)."""
        return {
            "instance_id": self.instance_id,
            "scheme_name": self.scheme_name,
            "baseline_version": self.baseline_version,
            "proposed_version": self.proposed_version,
            "baseline_rule_hash": self.baseline_rule_hash,
            "proposed_rule_hash": self.proposed_rule_hash,
            "total": self.total,
            **self.proposed.to_json(),
            "baseline": self.baseline.to_json(),
            "by_category": {impact.category: impact.to_json() for impact in self.by_category},
            "transitions": [{"from": a, "to": b, "count": count} for a, b, count in self.transitions],
            "current_rules": dict(self.current_rules),
            "proposed_rules": dict(self.proposed_rules),
            "results_digest": self.results_digest,
            "failed": self.failed,
            "failures": [failure_json(failure) for failure in self.failures],
        }

    def to_proto(self) -> orchestrator_pb2.ImpactReport:
        return orchestrator_pb2.ImpactReport(
            instance_id=self.instance_id,
            scheme_name=self.scheme_name,
            total=self.total,
            proposed=self.proposed.to_proto(),
            baseline=self.baseline.to_proto(),
            transitions=[
                orchestrator_pb2.DecisionTransition(
                    from_decision=DECISION_VALUES[a], to_decision=DECISION_VALUES[b], count=count
                )
                for a, b, count in self.transitions
            ],
            current_rules_json=canonical_json(dict(self.current_rules)),
            proposed_rules_json=canonical_json(dict(self.proposed_rules)),
            results_digest=self.results_digest,
            failed=self.failed,
            failures=[
                orchestrator_pb2.ItemFailure(position=f.position, citizen_id=f.citizen_id, error=f.error)
                for f in self.failures
            ],
            # proto3 scalars have no null: 0 and "" stand for None.
            baseline_version=self.baseline_version or 0,
            proposed_version=self.proposed_version or 0,
            baseline_rule_hash=self.baseline_rule_hash or "",
            proposed_rule_hash=self.proposed_rule_hash or "",
            by_category=[impact.to_proto() for impact in self.by_category],
        )


def failure_json(failure: FailureRow) -> dict[str, Any]:
    return {"position": failure.position, "citizen_id": failure.citizen_id, "error": failure.error}


def _by_category(counts: Mapping[str, Mapping[str, Any]]) -> tuple[CategoryImpact, ...]:
    return tuple(CategoryImpact.from_json(category, category_counts) for category, category_counts in counts.items())
