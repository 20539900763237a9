"""Migration 0010 on a database whose operator built the run list's indexes beforehand (CREATE INDEX CONCURRENTLY,
docs/operations.md): an index built whole is kept as it is, one an interrupted build left invalid is built again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from civicflow.database import run_migrations
from civicflow.launch.local_database import scratch_database
from orchestrator.storage.tables import MIGRATIONS, SCHEMA

_INDEX = """
    SELECT c.oid, i.indisvalid, i.indisunique, pg_get_indexdef(c.oid) AS definition
      FROM pg_class c JOIN pg_index i ON i.indexrelid = c.oid
     WHERE c.oid = to_regclass(:name)"""
_RUN = """
    INSERT INTO orchestrator.workflow_instances
        (instance_id, template_id, template_version, status, inputs, created_at, completed_at)
    VALUES (gen_random_uuid(), 'eligibility_check', '1.0.0', 'completed', '{}', now(), now())"""


@pytest.fixture
def before_0010(postgres_server_url: str) -> Iterator[sa.Engine]:
    """A database migrated up to 0009, holding two completed runs."""
    with scratch_database(postgres_server_url, prefix="civicflow_run_list_indexes") as url:
        engine = sa.create_engine(url)
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        with engine.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{SCHEMA}"'))
            config.attributes["connection"] = connection
            config.attributes["schema"] = SCHEMA
            command.upgrade(config, "0009")
            connection.execute(sa.text(_RUN))
            connection.execute(sa.text(_RUN))
        yield engine
        engine.dispose()


def index(engine: sa.Engine, name: str) -> sa.Row[tuple[int, bool, bool, str]]:
    with engine.connect() as connection:
        return connection.execute(sa.text(_INDEX), {"name": f"{SCHEMA}.{name}"}).one()


def test_an_index_built_beforehand_is_kept_and_an_invalid_one_built_again(before_0010: sa.Engine) -> None:
    with before_0010.connect() as connection:
        autocommit = connection.execution_options(isolation_level="AUTOCOMMIT")
        autocommit.execute(
            sa.text(
                "CREATE INDEX CONCURRENTLY runs_newest_first"
                " ON orchestrator.workflow_instances (created_at DESC, instance_id DESC)"
            )
        )
        # A unique index over two runs of one status fails, and CONCURRENTLY leaves it behind, invalid.
        with pytest.raises(sa.exc.IntegrityError):
            autocommit.execute(
                sa.text("CREATE UNIQUE INDEX CONCURRENTLY runs_by_status ON orchestrator.workflow_instances (status)")
            )
    built_beforehand = index(before_0010, "runs_newest_first")
    assert index(before_0010, "runs_by_status").indisvalid is False

    run_migrations(before_0010, script_location=MIGRATIONS, schema=SCHEMA)

    assert index(before_0010, "runs_newest_first") == built_beforehand
    rebuilt = index(before_0010, "runs_by_status")
    assert rebuilt.indisvalid and not rebuilt.indisunique
    assert rebuilt.definition.endswith("USING btree (status, created_at DESC, instance_id DESC)")
    for name in ("runs_by_template", "runs_by_actor", "runs_by_citizen"):
        assert index(before_0010, name).indisvalid
