"""Impact results in the session database: a migrated orchestrator schema, instances to own results, what was stored."""

from __future__ import annotations

import io
import uuid
from typing import Any

import sqlalchemy as sa

from civicflow.database import run_migrations
from orchestrator.storage.tables import MIGRATIONS, SCHEMA


def migrate(engine: sa.Engine) -> None:
    run_migrations(engine, script_location=MIGRATIONS, schema=SCHEMA)


def instance_for_results(engine: sa.Engine) -> uuid.UUID:
    """A workflow instance for results to belong to.

    Results are written only while their run runs (migration 0011): stored running, leased for a
    day to an owner no orchestrator has, so that none sharing the database takes it for a run to resume.
    """
    instance_id = uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO orchestrator.workflow_instances"
                " (instance_id, template_id, template_version, status, inputs, created_at, owner, lease_expires_at)"
                " VALUES (:id, 'fan_out_fixture', 'test', 'running', '{}', now(), 'fan-out test fixture',"
                " now() + interval '1 day')"
            ),
            {"id": instance_id},
        )
    return instance_id


def stored_rows(engine: sa.Engine, instance_id: uuid.UUID | str) -> tuple[int, int, int]:
    """(rows, lowest position, highest position) of an instance's results."""
    with engine.connect() as connection:
        count, low, high = connection.execute(
            sa.text(
                "SELECT count(*), min(position), max(position) FROM orchestrator.impact_results WHERE instance_id = :id"
            ),
            {"id": instance_id},
        ).one()
    return int(count), int(low or 0), int(high or 0)


def exported_results(engine: sa.Engine, instance_id: uuid.UUID | str) -> bytes:
    """An instance's results as COPY prints them in position order: what results_digest is the SHA-256 of."""
    connection: Any = engine.raw_connection()
    export = io.BytesIO()
    try:
        with connection.cursor() as cursor:
            cursor.copy_expert(
                "COPY (SELECT position, citizen_id, decision, baseline_decision FROM orchestrator.impact_results"
                f" WHERE instance_id = '{instance_id}' ORDER BY position) TO STDOUT",
                export,
            )
    finally:
        connection.close()
    return export.getvalue()
