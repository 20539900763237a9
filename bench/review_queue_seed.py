"""Fills a migrated database with a large review queue in bulk: waiting runs and the review tasks they wait for.

Two INSERT ... SELECT statements over generate_series, as the database's owner, make what a
steady stream of human_review steps would have left: every run `waiting` (no replica holds it,
not completed, waiting for its task), every task open or claimed, due times spread from a week
past to a week ahead, over several schemes. Both tables' constraints hold for every row; the
database checks them on insert.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import sqlalchemy as sa

from bench.credentials import subject_of
from civicflow.auth.principals import Role
from civicflow.database import create_engine

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
CLAIM_LEASE = "7 days"
REVIEW_STEP = (3, "human_review")


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


# One row per task, numbered n; the ids drawn once so that run and task name each other.
_SEED = f"""
CREATE TEMPORARY TABLE bench_review_seed ON COMMIT DROP AS
SELECT n,
       gen_random_uuid() AS task_id,
       gen_random_uuid() AS instance_id,
       (ARRAY{list(SCHEMES)!r})[n % {len(SCHEMES)} + 1] AS scheme_name,
       (ARRAY{list(SUBMITTERS)!r})[n % {len(SUBMITTERS)} + 1] AS submitted_by,
       CASE WHEN n > :open_tasks THEN (ARRAY{list(ASSIGNEES)!r})[n % {len(ASSIGNEES)} + 1] END AS assignee,
       'CIT-' || lpad(n::text, 7, '0') AS citizen_id,
       now() - make_interval(secs => (n::bigint * {SCATTER}) % {CREATED_SPREAD_SECONDS}) AS created_at
FROM generate_series(1, :total) AS n
"""
_INSTANCES = f"""
INSERT INTO {SCHEMA}.workflow_instances
    (instance_id, template_id, template_version, status, inputs, created_at, actor,
     steps_completed, steps_total, waiting_for_review)
SELECT instance_id, :template_id, :template_version, 'waiting',
       json_build_object('citizen_id', citizen_id, 'scheme_name', scheme_name), created_at, submitted_by,
       {REVIEW_STEP[0]}, :steps_total, task_id
FROM bench_review_seed
"""
_TASKS = f"""
INSERT INTO {SCHEMA}.review_tasks
    (review_task_id, instance_id, step_index, step_name, citizen_id, scheme_name, scheme_version,
     recommendation, reasons, candidate_role, submitted_by, status, assignee, claim_expires_at,
     created_at, due_at)
SELECT task_id, instance_id, {REVIEW_STEP[0]}, '{REVIEW_STEP[1]}', citizen_id, scheme_name, 1,
       'NEEDS_REVIEW', CAST(:reasons AS json), 'caseworker', submitted_by,
       CASE WHEN assignee IS NULL THEN 'open' ELSE 'claimed' END, assignee,
       CASE WHEN assignee IS NOT NULL THEN now() + interval '{CLAIM_LEASE}' END,
       created_at, created_at + make_interval(secs => {DUE_AFTER_SECONDS})
FROM bench_review_seed
"""
REASONS = '[{"criterion": "income", "detail": "income within the review band of the ceiling"}]'


def seed_review_queue(
    owner_url: str, shape: ReviewQueueShape, *, template_id: str, template_version: str, steps_total: int
) -> None:
    """Adds shape.total waiting runs of `template_id`, each waiting for its own review task, in one transaction.

    `owner_url` connects as the database's owner (the role the database setup runs as): the
    services' own roles may not write runs in bulk behind the orchestrator's back.
    """
    engine = create_engine(owner_url, application_name="bench-review-seed", pool_size=1)
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(_SEED), {"total": shape.total, "open_tasks": shape.open_tasks})
            connection.execute(
                sa.text(_INSTANCES),
                {"template_id": template_id, "template_version": template_version, "steps_total": steps_total},
            )
            connection.execute(sa.text(_TASKS), {"reasons": REASONS})
        with engine.connect() as connection:
            # The planner sees the new rows at once, not when autovacuum gets to them.
            connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(sa.text(f"ANALYZE {SCHEMA}.workflow_instances"))
            connection.execute(sa.text(f"ANALYZE {SCHEMA}.review_tasks"))
    finally:
        engine.dispose()
