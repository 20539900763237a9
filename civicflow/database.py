"""Engines and schema migrations shared by the services that own tables."""

from __future__ import annotations

import zlib
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Engine


def create_engine(url: str, *, application_name: str, role: str | None = None, pool_size: int = 10) -> Engine:
    """A pooled engine; with `role`, every connection acts as that (less privileged) role."""
    engine = sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        connect_args={"application_name": application_name},
    )
    if role is not None:

        @sa.event.listens_for(engine, "connect")
        def _assume_role(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f'SET ROLE "{role}"')
            dbapi_connection.commit()

    return engine


def is_reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return False
    return True


def run_migrations(engine: Engine, *, script_location: Path, schema: str) -> None:
    """Brings `schema` to the newest revision under `script_location`.

    Replicas starting together take a transaction-scoped advisory lock, so exactly
    one of them migrates and the others find the schema already current.
    """
    config = Config()
    config.set_main_option("script_location", str(script_location))
    with engine.begin() as connection:
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _lock_key(schema)})
        connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
        config.attributes["connection"] = connection
        config.attributes["schema"] = schema
        command.upgrade(config, "head")


def run_migrations_online(context) -> None:  # type: ignore[no-untyped-def]
    """Body of every service's alembic env.py: migrate on the connection run_migrations hands over."""
    connection = context.config.attributes["connection"]
    context.configure(
        connection=connection,
        version_table_schema=context.config.attributes["schema"],
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _lock_key(schema: str) -> int:
    return zlib.crc32(f"civicflow.migrate.{schema}".encode())
