"""The orchestrator's metrics: runs and steps by template, review tasks by scheme, the impact queue, leases.

Labels are template ids, step names, outcomes, run statuses and scheme names: bounded sets an
administrator defines, never a citizen, a subject or free text. Counters are counted where the
event happens (runner.py, replica.py, reviews/service.py); gauges read from the database are set
by loops that run anyway (the review sweep, the impact queue's promoter), never on a request.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from prometheus_client import Counter, Gauge, Histogram

# A run or a step: from an eligibility check (milliseconds) to a million-citizen analysis (minutes).
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# A person's work: from seconds to days.
HUMAN_BUCKETS = (1, 10, 60, 300, 900, 3600, 4 * 3600, 8 * 3600, 24 * 3600, 3 * 86400, 7 * 86400, 30 * 86400)

RUNS_STARTED = Counter("civicflow_runs_started", "Runs created (queued analyses included), by template.", ["template"])
RUNS_FINISHED = Counter(
    "civicflow_runs_finished",
    "Runs that ended, by template and final status (completed, failed, cancelled).",
    ["template", "status"],
)
RUN_DURATION = Histogram(
    "civicflow_run_duration_seconds",
    "A run's end-to-end time, from its creation to its end, by template and final status.",
    ["template", "status"],
    buckets=DURATION_BUCKETS,
)
STEP_ATTEMPTS = Counter(
    "civicflow_step_attempts",
    "Step attempts made, by template, step and outcome (succeeded, or the failure's kind).",
    ["template", "step", "outcome"],
)
STEP_DURATION = Histogram(
    "civicflow_step_attempt_seconds",
    "The time one step attempt took, by template, step and outcome.",
    ["template", "step", "outcome"],
    buckets=DURATION_BUCKETS,
)
IMPACT_QUEUE_DEPTH = Gauge("civicflow_impact_queue_depth", "Impact analyses queued, waiting for a free slot.")
IMPACT_QUEUE_WAIT = Histogram(
    "civicflow_impact_queue_wait_seconds",
    "How long an impact analysis waited in the queue before it started.",
    buckets=DURATION_BUCKETS,
)
REVIEW_TASKS_OPEN = Gauge(
    "civicflow_review_tasks_open", "Review tasks not yet decided (open or claimed), by scheme.", ["scheme"]
)
REVIEW_TASKS_OVERDUE = Gauge(
    "civicflow_review_tasks_overdue", "Undecided review tasks past their due time, by scheme.", ["scheme"]
)
REVIEW_TIME_TO_CLAIM = Histogram(
    "civicflow_review_time_to_claim_seconds",
    "From a review task's creation to a claim of it, by scheme.",
    ["scheme"],
    buckets=HUMAN_BUCKETS,
)
REVIEW_TIME_TO_DECIDE = Histogram(
    "civicflow_review_time_to_decide_seconds",
    "From a review task's creation to its decision, by scheme.",
    ["scheme"],
    buckets=HUMAN_BUCKETS,
)
LEASES_EXPIRED = Counter(
    "civicflow_run_leases_expired", "Runs whose lease ran out (their replica died or stalled), claimed by this one."
)
LEASES_LOST = Counter(
    "civicflow_run_leases_lost", "Runs this replica stopped driving because another replica had taken their lease."
)
RUNS_RECOVERED = Counter(
    "civicflow_runs_recovered",
    "Runs taken over from another replica (or this one before a restart) and resumed, by template.",
    ["template"],
)


def run_started(template_id: str) -> None:
    RUNS_STARTED.labels(template_id).inc()


def run_finished(template_id: str, status: str, *, created_at: datetime, completed_at: datetime | None) -> None:
    """A run ended (completed, failed or cancelled); its duration from its creation, where it has an end time."""
    RUNS_FINISHED.labels(template_id, status).inc()
    if completed_at is not None:
        RUN_DURATION.labels(template_id, status).observe(max(0.0, (completed_at - created_at).total_seconds()))


def run_cancelled(template_id: str, *, created_at: datetime, completed_at: datetime | None) -> None:
    """A run was cancelled: counted as finished with status `cancelled`."""
    run_finished(template_id, "cancelled", created_at=created_at, completed_at=completed_at)


def step_attempted(template_id: str, step: str, outcome: str, seconds: float) -> None:
    STEP_ATTEMPTS.labels(template_id, step, outcome).inc()
    STEP_DURATION.labels(template_id, step, outcome).observe(seconds)


def review_counts(counts: Iterable[tuple[str, int, int]]) -> None:
    """Sets the open and overdue gauges from (scheme, open, overdue) rows; a scheme no row names now has none."""
    seen: set[str] = set()
    for scheme, open_tasks, overdue in counts:
        REVIEW_TASKS_OPEN.labels(scheme).set(open_tasks)
        REVIEW_TASKS_OVERDUE.labels(scheme).set(overdue)
        seen.add(scheme)
    for gauge in (REVIEW_TASKS_OPEN, REVIEW_TASKS_OVERDUE):
        for (scheme,) in _label_values(gauge):
            if scheme not in seen:
                gauge.labels(scheme).set(0)


def _label_values(gauge: Gauge) -> list[tuple[str, ...]]:
    return [
        tuple(sample.labels[name] for name in ("scheme",)) for metric in gauge.collect() for sample in metric.samples
    ]
