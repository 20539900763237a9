"""The database of a local run: an embedded PostgreSQL holding a `civicflow` database, for as long as it is needed."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from civicflow.launch.embedded_postgres import embedded_database_url, start_embedded_postgres

log = logging.getLogger(__name__)

DATABASE_NAME = "civicflow"


@contextmanager
def embedded_database(data_dir: Path, *, name: str = DATABASE_NAME) -> Iterator[str]:
    """Starts (or joins) the server in `data_dir`, creates database `name` if missing, yields its URL.

    The server is stopped when the block exits; its data stays in `data_dir` for the next run.
    """
    log.info("starting embedded PostgreSQL", extra={"data_dir": str(data_dir)})
    server = start_embedded_postgres(data_dir)
    try:
        server_url = embedded_database_url(server)
        ensure_database(server_url, name)
        yield database_url_on(server_url, name)
    finally:
        log.info("stopping embedded PostgreSQL", extra={"data_dir": str(data_dir)})
        server.cleanup()


def database_url_on(server_url: str, name: str) -> str:
    """The URL of database `name` on the server behind `server_url`, credentials kept."""
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def ensure_database(server_url: str, name: str) -> None:
    """Creates database `name` on the server behind `server_url` (a superuser URL) unless it exists."""
    with _admin_connection(server_url) as connection:
        exists = connection.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
        if exists.scalar() is None:
            # CREATE DATABASE takes no bind parameters; the name is ours, not user input.
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
            log.info("created database", extra={"database": name})


def drop_database(server_url: str, name: str) -> None:
    """Drops database `name` if it exists, disconnecting whoever is still on it."""
    with _admin_connection(server_url) as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def _admin_connection(server_url: str) -> Iterator[sa.Connection]:
    """An autocommit connection to `server_url`, as CREATE and DROP DATABASE run outside a transaction."""
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            yield connection
    finally:
        admin.dispose()


@contextmanager
def scratch_database(server_url: str, *, prefix: str) -> Iterator[str]:
    """A new database named `prefix` plus a random suffix for the block's duration; yields its URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    ensure_database(server_url, name)
    try:
        yield database_url_on(server_url, name)
    finally:
        drop_database(server_url, name)
