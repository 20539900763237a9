"""Fills a migrated database with a large review queue in bulk: waiting runs and the review tasks they wait for.

Two INSERT ... SELECT statements, as the database's owner, make what a steady stream of runs
parking at a template's human_review step would have left (each row's scheme, times and
assignee computed in SQL from its number; only the ids come from Python, as one array, since a
task's id is derived from its run and step as the orchestrator derives it, a UUIDv5 that
PostgreSQL cannot compute without an extension): every run
`waiting` at that step (no replica holds it, not completed, waiting for its task, its
recommendation in its outputs), every task open or claimed, due times spread from a week past
to a week ahead, over the four schemes. The queue is in its steady state: a task past due was
escalated when it fell due, so the orchestrator's sweep finds nothing to escalate (it would
otherwise escalate half the queue, an audited batch at a time, during the measurement). Both
tables' constraints hold for every row; the database checks them on insert. Steps' journal
rows and audit entries are not made: nothing a queue page or a waiting run's GET reads.
"""

from __future__ import annotations

import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from bench.credentials import subject_of
from civicflow.auth.principals import Role
from civicflow.database import create_engine
from orchestrator.config import OrchestratorSettings
from orchestrator.reviews.store import review_task_id
from orchestrator.tasks import TASK_CONTRACTS
from orchestrator.tasks.human_review import HUMAN_REVIEW, HumanReviewConfig
from orchestrator.templates.registry import LoadedTemplate, TemplateRegistry

SCHEMA = "orchestrator"
SCHEMES = ("scheme_alpha", "scheme_beta", "scheme_gamma", "scheme_delta")
# Who started the runs: never one of their reviewers (four eyes).
SUBMITTERS = ("intake-1", "intake-2", "intake-3")
# Who holds the claimed tasks, in turn; the first is the benchmark's caseworker, whose `assignee=me` page is timed.
ASSIGNEES = (subject_of(Role.CASEWORKER), "reviewer-1", "reviewer-2")
# Besides the open tasks, one claimed task for this many open ones (and at least one per assignee).
OPEN_PER_CLAIMED = 100
# created_at runs back this far from the seeding; each task is due a week after it was created, so
# about half the queue is overdue.
CREATED_SPREAD_SECONDS = 14 * 86_400
DUE_AFTER_SECONDS = 7 * 86_400
# Scatters created_at over the spread so that due order is not insertion order (coprime with the spread).
SCATTER = 7_919
# Longer than REVIEW_CLAIM_SECONDS, so that no claim lapses (and leaves the `assignee=me` page) during the benchmark.
CLAIM_LEASE = "7 days"
REVIEW_TEMPLATE = "benefit_application"


@dataclass(frozen=True)
class ReviewStep:
    """Where a run of `template_id` waits for a person: its human_review step, and its progress there."""

    template_id: str
    template_version: str
    step_index: int
    step_name: str
    candidate_role: str
    # The steps on its path before the review, and the most it can take in all (as the runner counts them).
    steps_completed: int
    steps_total: int


def review_step(template_id: str = REVIEW_TEMPLATE, *, templates_dir: Path | None = None) -> ReviewStep:
    """The first human_review step of the template as the orchestrator loads it (default: its templates)."""
    directory = templates_dir or OrchestratorSettings.model_fields["templates_dir"].default
    template = TemplateRegistry.load_directory(directory, TASK_CONTRACTS).get(template_id)
    review = next(step for step in template.steps if step.spec.task_type == HUMAN_REVIEW)
    assert isinstance(review.config, HumanReviewConfig)
    done = _steps_before(template, review.index)
    return ReviewStep(
        template_id=template_id,
        template_version=template.model.version,
        step_index=review.index,
        step_name=review.spec.name,
        candidate_role=str(review.config.candidate_role),
        steps_completed=done,
        steps_total=done + template.steps_left(review),
    )


def _steps_before(template: LoadedTemplate, target: int) -> int:
    """Steps a run takes from the first to step `target`: at a switch, into the branch that holds it.

    Steps are numbered in document order, a switch's branches one after another, so the branch
    holding `target` is the last whose first step is not after it.
    """
    done, step = 0, template.steps[0]
    while step.index != target:
        done += 1
        firsts = [first for first in step.branches.values() if first is not None and first <= target]
        following = max(firsts) if firsts else step.next_index
        if following is None:
            raise ValueError(f"step {target} is not on a path of {template.template_id}")
        step = template.steps[following]
    return done


@dataclass(frozen=True)
class ReviewQueueShape:
    """What seed_review_queue makes: tasks 1..open_tasks open, the claimed ones numbered after them."""

    open_tasks: int

    @property
    def claimed_tasks(self) -> int:
        return max(len(ASSIGNEES), self.open_tasks // OPEN_PER_CLAIMED)

    @property
    def total(self) -> int:
        return self.open_tasks + self.claimed_tasks

    @staticmethod
    def scheme_of(number: int) -> str:
        return SCHEMES[number % len(SCHEMES)]

    def assignee_of(self, number: int) -> str | None:
        return None if number <= self.open_tasks else ASSIGNEES[number % len(ASSIGNEES)]

    @staticmethod
    def age_seconds(number: int) -> int:
        """How long before the seeding task `number` was created."""
        return (number * SCATTER) % CREATED_SPREAD_SECONDS

    @property
    def overdue_tasks(self) -> int:
        """Tasks due at the seeding or before: past due by the time anyone reads the queue."""
        return sum(self.age_seconds(number) >= DUE_AFTER_SECONDS for number in range(1, self.total + 1))

    def tasks_by(self) -> Counter[tuple[str, str, str | None]]:
        """(scheme, status, assignee) of every task, counted: what the database holds after seeding."""
        counts: Counter[tuple[str, str, str | None]] = Counter()
        for number in range(1, self.total + 1):
            assignee = self.assignee_of(number)
            counts[(self.scheme_of(number), "open" if assignee is None else "claimed", assignee)] += 1
        return counts


# One row per task, numbered n from 1, with its run's id and its own. A task due before the seeding was escalated
# then (once, one revision), and a claimed one was claimed (one revision).
_SEED = f"""
CREATE TEMPORARY TABLE bench_review_seed ON COMMIT DROP AS
SELECT n, instance_id, task_id,
       (ARRAY{list(SCHEMES)!r})[n % {len(SCHEMES)} + 1] AS scheme_name,
       (ARRAY{list(SUBMITTERS)!r})[n % {len(SUBMITTERS)} + 1] AS submitted_by,
       CASE WHEN n > :open_tasks THEN (ARRAY{list(ASSIGNEES)!r})[n % {len(ASSIGNEES)} + 1] END AS assignee,
       'CIT-' || lpad(n::text, 7, '0') AS citizen_id,
       now() - make_interval(secs => (n::bigint * {SCATTER}) % {CREATED_SPREAD_SECONDS}) AS created_at,
       (n::bigint * {SCATTER}) % {CREATED_SPREAD_SECONDS} >= {DUE_AFTER_SECONDS} AS escalated
FROM unnest(CAST(:instance_ids AS uuid[]), CAST(:task_ids AS uuid[])) WITH ORDINALITY AS ids(instance_id, task_id, n)
"""
_RECOMMENDATION = """json_build_object('decision', 'NEEDS_REVIEW', 'citizen_id', citizen_id, 'scheme_name', scheme_name,
                                          'scheme_version', 1, 'reasons', CAST(:reasons AS json))"""
_INSTANCES = f"""
INSERT INTO {SCHEMA}.workflow_instances
    (instance_id, template_id, template_version, status, inputs, outputs, created_at, actor,
     steps_completed, steps_total, waiting_for_review)
SELECT instance_id, :template_id, :template_version, 'waiting',
       json_build_object('citizen_id', citizen_id, 'scheme_name', scheme_name),
       json_build_object('recommendation', {_RECOMMENDATION}), created_at, submitted_by,
       :steps_completed, :steps_total, task_id
FROM bench_review_seed
"""
_TASKS = f"""
INSERT INTO {SCHEMA}.review_tasks
    (review_task_id, instance_id, step_index, step_name, citizen_id, scheme_name, scheme_version,
     recommendation, reasons, candidate_role, submitted_by, status, assignee, claim_expires_at,
     created_at, due_at, escalated_at, revision)
SELECT task_id, instance_id, :step_index, :step_name, citizen_id, scheme_name, 1,
       'NEEDS_REVIEW', CAST(:reasons AS json), :candidate_role, submitted_by,
       CASE WHEN assignee IS NULL THEN 'open' ELSE 'claimed' END, assignee,
       CASE WHEN assignee IS NOT NULL THEN now() + interval '{CLAIM_LEASE}' END,
       created_at, created_at + make_interval(secs => {DUE_AFTER_SECONDS}),
       CASE WHEN escalated THEN created_at + make_interval(secs => {DUE_AFTER_SECONDS}) END,
       (assignee IS NOT NULL)::int + escalated::int
FROM bench_review_seed
"""
# What make_decision gives a case the rules leave to a person (orchestrator/tasks/eligibility.py).
REASONS = (
    '[{"criterion": "income_review_band", "kind": "review", "passed": false,'
    ' "detail": "income within the review band below the ceiling", "values": {"income": 231000}}]'
)


def seed_review_queue(owner_url: str, shape: ReviewQueueShape, step: ReviewStep) -> None:
    """Adds shape.total runs waiting at `step`, each for its own review task, in one transaction.

    `owner_url` connects as the database's owner (the role the database setup runs as): the
    services' own roles may not write runs in bulk behind the orchestrator's back.
    """
    engine = create_engine(owner_url, application_name="bench-review-seed", pool_size=1)
    try:
        with engine.begin() as connection:
            runs = [uuid.uuid4() for _ in range(shape.total)]
            connection.execute(
                sa.text(_SEED),
                {
                    "instance_ids": [str(run) for run in runs],
                    "task_ids": [str(review_task_id(run, step.step_index)) for run in runs],
                    "open_tasks": shape.open_tasks,
                },
            )
            connection.execute(
                sa.text(_INSTANCES),
                {
                    "template_id": step.template_id,
                    "template_version": step.template_version,
                    "steps_completed": step.steps_completed,
                    "steps_total": step.steps_total,
                    "reasons": REASONS,
                },
            )
            connection.execute(
                sa.text(_TASKS),
                {
                    "step_index": step.step_index,
                    "step_name": step.step_name,
                    "candidate_role": step.candidate_role,
                    "reasons": REASONS,
                },
            )
        with engine.connect() as connection:
            # The planner sees the new rows at once, not when autovacuum gets to them.
            connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(sa.text(f"ANALYZE {SCHEMA}.workflow_instances"))
            connection.execute(sa.text(f"ANALYZE {SCHEMA}.review_tasks"))
    finally:
        engine.dispose()
