"""Pooled connections survive the server dropping them, without a ping on every checkout; a service refuses a schema
the database setup has not brought up to date."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from audit_service.log.tables import MIGRATIONS as AUDIT_MIGRATIONS
from civicflow.auth.access import ServiceIdentity
from civicflow.database import create_engine
from civicflow.launch.local_database import scratch_database
from civicflow.settings import REPO_ROOT
from orchestrator.storage.tables import MIGRATIONS as ORCHESTRATOR_MIGRATIONS
from tests.support.credentials import Credentials


def backend_pid(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        pid: int = connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
    return pid


def terminate(owner: sa.Engine, pid: int) -> None:
    with owner.connect() as connection:
        connection.execute(sa.text("SELECT pg_terminate_backend(:pid, 5000)"), {"pid": pid})
        connection.commit()


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(database_url: str, owner: sa.Engine) -> None:
    engine = create_engine(database_url, application_name="test-idle-ping", pool_size=1, idle_ping_seconds=0.0)
    try:
        dropped = backend_pid(engine)
        terminate(owner, dropped)
        assert backend_pid(engine) != dropped
    finally:
        engine.dispose()


def test_a_connection_in_steady_use_is_not_pinged(database_url: str, owner: sa.Engine) -> None:
    # The counterpart of the test above: without the ping, the dropped connection is handed out and fails.
    engine = create_engine(database_url, application_name="test-idle-ping", pool_size=1, idle_ping_seconds=3600.0)
    try:
        terminate(owner, backend_pid(engine))
        with pytest.raises(sa.exc.OperationalError):
            backend_pid(engine)
    finally:
        engine.dispose()


def test_an_autocommit_engine_commits_each_statement(database_url: str, owner: sa.Engine) -> None:
    engine = create_engine(database_url, application_name="test-autocommit", pool_size=1, autocommit=True)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("CREATE TABLE IF NOT EXISTS public.autocommit_probe (x int)"))
            connection.execute(sa.text("INSERT INTO public.autocommit_probe VALUES (1)"))
            # No commit: the connection goes back to the pool, and a rollback there must not undo the row.
        with owner.connect() as other:
            assert other.execute(sa.text("SELECT count(*) FROM public.autocommit_probe")).scalar_one() == 1
            other.execute(sa.text("DROP TABLE public.autocommit_probe"))
            other.commit()
    finally:
        engine.dispose()


# Each service with tables: its identity, its schema and the Alembic scripts of that schema.
SERVICES_WITH_TABLES = {
    "orchestrator": (ServiceIdentity.ORCHESTRATOR, "orchestrator", ORCHESTRATOR_MIGRATIONS),
    "audit_service": (ServiceIdentity.AUDIT_SERVICE, "audit", AUDIT_MIGRATIONS),
}


@pytest.mark.parametrize("service", sorted(SERVICES_WITH_TABLES))
@pytest.mark.parametrize("revision", [None, "0001"], ids=["empty database", "older revision"])
def test_a_service_on_a_database_the_setup_has_not_migrated_exits_2_saying_to_run_it(
    postgres_server_url: str, credentials: Credentials, tmp_path: Path, service: str, revision: str | None
) -> None:
    """Services never migrate: on a schema behind their code (a new version, the setup not run yet) they stop."""
    identity, schema, scripts = SERVICES_WITH_TABLES[service]
    with scratch_database(postgres_server_url, prefix="civicflow_unmigrated") as url:
        if revision is not None:
            engine = sa.create_engine(url)
            config = Config()
            config.set_main_option("script_location", str(scripts))
            with engine.begin() as connection:
                connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
                config.attributes.update(connection=connection, schema=schema)
                command.upgrade(config, revision)
            engine.dispose()
        finished = subprocess.run(
            [sys.executable, "-m", service],
            env={
                **os.environ,
                "HOST": "127.0.0.1",
                "ORCHESTRATOR_PORT": "0",
                "AUDIT_PORT": "0",
                "DATABASE_URL": url,
                "AUDIT_SIGNING_KEY_PATH": str(tmp_path / "signing-key.pem"),
                "AUDIT_SIGNING_KEY_CREATE": "true",
                **credentials.environment(identity),
            },
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            table = connection.execute(sa.text(f"SELECT to_regclass('{schema}.alembic_version')")).scalar()
            left_at = table and connection.execute(sa.text(f"SELECT version_num FROM {table}")).scalar_one()
        engine.dispose()

    assert finished.returncode == 2, finished.stdout + finished.stderr
    logged = [json.loads(line) for line in finished.stdout.splitlines() if line.startswith("{")]
    errors = [line for line in logged if line["level"] == "ERROR"]
    assert len(errors) == 1 and [line for line in logged if "database setup" in line["message"]] == errors
    assert errors[0]["message"].startswith("refusing to start: ")
    assert f"the database's {schema} schema is at revision {revision or '(none)'}" in errors[0]["message"]
    assert "run the database setup first (python -m civicflow.database_setup" in errors[0]["message"]
    assert "Traceback" not in finished.stderr
    assert left_at == revision
