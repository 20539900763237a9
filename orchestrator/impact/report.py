"""The report of an impact analysis: one model, stored as the run's `impact_report` output and sent as protobuf."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from civicflow.decisions import DECISION_NAMES, DECISION_VALUES
from civicflow.v1 import orchestrator_pb2
from orchestrator.impact.outcome import FailureRow
from orchestrator.templates.schemes import SchemeRules

# The report's rule fields: the criteria of SchemeRules without the scheme's name, which the report holds once.
CRITERIA = ("min_age", "max_age", "max_income")
COUNT_NAMES = tuple(name.lower() for name in DECISION_NAMES.values())


@dataclass(frozen=True)
class DecisionCounts:
    eligible: int
    not_eligible: int
    needs_review: int

    @classmethod
    def from_names(cls, counts: Mapping[str, int]) -> DecisionCounts:
        return cls(**{name: counts[name] for name in COUNT_NAMES})

    def to_json(self) -> dict[str, int]:
        return {"eligible": self.eligible, "not_eligible": self.not_eligible, "needs_review": self.needs_review}

    def to_proto(self) -> orchestrator_pb2.DecisionCounts:
        return orchestrator_pb2.DecisionCounts(**self.to_json())


@dataclass(frozen=True)
class ImpactReport:
    instance_id: str
    scheme_name: str
    total: int
    proposed: DecisionCounts
    baseline: DecisionCounts
    # (from, to, count) by decision name, all nine pairs in report order.
    transitions: tuple[tuple[str, str, int], ...]
    current_rules: Mapping[str, Any]
    proposed_rules: Mapping[str, Any]
    results_digest: str
    # Citizens the evaluator could not decide (within the step's tolerance): in no count above.
    failed: int
    failures: tuple[FailureRow, ...]

    @classmethod
    def from_evaluation(
        cls,
        evaluation: Mapping[str, Any],
        *,
        instance_id: str,
        current_rules: Mapping[str, Any],
        proposed_rules: Mapping[str, Any],
    ) -> ImpactReport:
        """The report of an `evaluate_population` step's output (its audit entry) under the two rule sets."""
        return cls(
            instance_id=instance_id,
            scheme_name=current_rules["scheme_name"],
            total=evaluation["total"],
            proposed=DecisionCounts.from_names(evaluation["proposed"]),
            baseline=DecisionCounts.from_names(evaluation["baseline"]),
            transitions=tuple((item["from"], item["to"], item["count"]) for item in evaluation["transitions"]),
            current_rules=_criteria(current_rules),
            proposed_rules=_criteria(proposed_rules),
            results_digest=evaluation["results_digest"],
            failed=evaluation["failed"],
            failures=tuple(FailureRow(**failure) for failure in evaluation["failures"]),
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
        )

    def to_document(self) -> dict[str, Any]:
        """The JSON the run stores as its `impact_report` output and REST answers (proposed counts at the top)."""
        return {
            "instance_id": self.instance_id,
            "scheme_name": self.scheme_name,
            "total": self.total,
            **self.proposed.to_json(),
            "baseline": self.baseline.to_json(),
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
            current_rules=SchemeRules(scheme_name=self.scheme_name, **self.current_rules).to_proto(),
            proposed_rules=SchemeRules(scheme_name=self.scheme_name, **self.proposed_rules).to_proto(),
            results_digest=self.results_digest,
            failed=self.failed,
            failures=[
                orchestrator_pb2.ItemFailure(position=f.position, citizen_id=f.citizen_id, error=f.error)
                for f in self.failures
            ],
        )


def failure_json(failure: FailureRow) -> dict[str, Any]:
    return {"position": failure.position, "citizen_id": failure.citizen_id, "error": failure.error}


def _criteria(rules: Mapping[str, Any]) -> dict[str, Any]:
    return {key: rules[key] for key in CRITERIA}
