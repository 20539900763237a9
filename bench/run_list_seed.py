"""Fills a migrated database with many finished runs in one INSERT ... SELECT: what the run list is measured on.

Each run's template, actor, citizen, status and creation time are computed in SQL from its
number n (from 0, the newest), the same way RunListShape computes them in Python, so that a test
knows what any filter must list without reading the table. Two runs share each creation time
(n = 2k and 2k + 1), so that the list's tie-break on instance_id is exercised. Runs are
completed or failed only: no replica claims them, and the database refuses to change them.
Steps' journal rows and audit entries are not made: nothing the run list reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from civicflow.database import create_engine

SCHEMA = "orchestrator"
TEMPLATES = ("eligibility_check", "benefit_application", "appeal_processing", "impact_analysis")
# Templates whose inputs name no citizen.
WITHOUT_CITIZEN = frozenset({"impact_analysis"})
FAILED_EVERY = 10


@dataclass(frozen=True)
class RunListShape:
    runs: int
    newest: datetime  # created_at of runs 1 and 0 (aware)
    actors: tuple[str, ...] = ("intake-1", "intake-2", "intake-3", "intake-4", "intake-5")
    citizens: int = 1_000
    citizen_prefix: str = "CIT-"
    templates: tuple[str, ...] = TEMPLATES
    template_version: str = "1.0.0"

    def template_of(self, n: int) -> str:
        return self.templates[n % len(self.templates)]

    def actor_of(self, n: int) -> str:
        return self.actors[n % len(self.actors)]

    def citizen_of(self, n: int) -> str | None:
        if self.template_of(n) in WITHOUT_CITIZEN:
            return None
        return f"{self.citizen_prefix}{n % self.citizens:07d}"

    @staticmethod
    def status_of(n: int) -> str:
        return "failed" if n % FAILED_EVERY == 0 else "completed"

    def created_at_of(self, n: int) -> datetime:
        return self.newest - timedelta(seconds=n // 2)


_SEED = f"""
INSERT INTO {SCHEMA}.workflow_instances
    (instance_id, template_id, template_version, status, inputs, outputs, error, created_at, completed_at, actor,
     steps_completed, steps_total)
SELECT gen_random_uuid(), template_id, :version, status,
       CASE WHEN template_id = ANY(CAST(:without_citizen AS text[]))
            THEN json_build_object('scheme_name', 'scheme_alpha', 'population_size', 1000)
            ELSE json_build_object('citizen_id', :citizen_prefix || lpad((n % :citizens)::text, 7, '0'),
                                   'scheme_name', 'scheme_alpha') END,
       CAST('{{}}' AS json), CASE WHEN status = 'failed' THEN 'seeded as failed' END,
       created_at, created_at + interval '1 second', (CAST(:actors AS text[]))[n % :actor_count + 1], 4, 4
FROM (SELECT n, (CAST(:templates AS text[]))[n % :template_count + 1] AS template_id,
             CASE WHEN n % {FAILED_EVERY} = 0 THEN 'failed' ELSE 'completed' END AS status,
             CAST(:newest AS timestamptz) - make_interval(secs => n / 2) AS created_at
      FROM generate_series(CAST(0 AS bigint), :last) AS n) AS numbered
"""


def seed_runs(connection: sa.Connection, shape: RunListShape) -> None:
    """Adds runs 0 .. shape.runs - 1 in the caller's transaction, as the database's owner."""
    connection.execute(
        sa.text(_SEED),
        {
            "version": shape.template_version,
            "without_citizen": sorted(WITHOUT_CITIZEN),
            "citizen_prefix": shape.citizen_prefix,
            "citizens": shape.citizens,
            "actors": list(shape.actors),
            "actor_count": len(shape.actors),
            "templates": list(shape.templates),
            "template_count": len(shape.templates),
            "newest": shape.newest,
            "last": shape.runs - 1,
        },
    )


def seed_run_list(owner_url: str, shape: RunListShape) -> None:
    """Seeds `shape` in one transaction, then has the planner see the new rows at once."""
    engine = create_engine(owner_url, application_name="bench-run-list-seed", pool_size=1)
    try:
        with engine.begin() as connection:
            seed_runs(connection, shape)
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            connection.execute(sa.text(f"ANALYZE {SCHEMA}.workflow_instances"))
    finally:
        engine.dispose()
