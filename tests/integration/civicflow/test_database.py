"""Pooled connections survive the server dropping them, without a ping on every checkout."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from civicflow.database import create_engine


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
