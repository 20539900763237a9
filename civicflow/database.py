"""Settings, engines and schema migrations shared by the services that own tables."""

from __future__ import annotations

import socket
import time
import zlib
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from pydantic_settings import BaseSettings
from sqlalchemy.engine import Engine, make_url

from civicflow.settings import ConfigurationError

# A pooled connection idle for longer than this is pinged before use (the server may have restarted).
IDLE_PING_SECONDS = 1.0


class DatabasePasswordError(ConfigurationError):
    """A password file that is named but cannot be read, or is empty: the service refuses to start."""


class DatabaseSettings(BaseSettings):
    """How a service with tables logs in; the settings of the orchestrator and the audit service extend this class."""

    # The service's own role (civicflow/database_setup.py), never the owner's.
    database_url: str
    # A file holding that role's password (a mounted secret), which then replaces any password in database_url:
    # the URL can be shown, the password stays in the file.
    database_password_file: Path | None = None
    database_pool_size: int = 10

    def database_login_url(self) -> str:
        """database_url with the password of database_password_file, if one is named."""
        return url_with_password_from(self.database_url, self.database_password_file, setting="DATABASE_PASSWORD_FILE")


def url_with_password_from(url: str, password_file: Path | None, *, setting: str) -> str:
    """`url` with its password replaced by the content of `password_file` (one trailing newline ignored)."""
    if password_file is None:
        return url
    try:
        password = password_file.read_text().removesuffix("\n").removesuffix("\r")
    except OSError as error:
        raise DatabasePasswordError(f"{setting} {password_file}: {error.strerror}") from None
    if not password:
        raise DatabasePasswordError(f"{setting} {password_file} is empty")
    return make_url(url).set(password=password).render_as_string(hide_password=False)


def create_engine(
    url: str,
    *,
    application_name: str,
    pool_size: int = 10,
    autocommit: bool = False,
    idle_ping_seconds: float = IDLE_PING_SECONDS,
) -> Engine:
    """A pooled engine, logged in as the URL's role (each service its own: civicflow/database_setup.py).

    With `autocommit`, each statement is its own transaction: set once per connection, not at every
    checkout and checkin as a per-connection execution option would.
    """
    options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT"} if autocommit else {}
    engine = sa.create_engine(
        url,
        pool_size=pool_size,
        max_overflow=pool_size,
        connect_args={"application_name": application_name},
        **options,
    )
    _ping_when_idle(engine, idle_seconds=idle_ping_seconds)
    return engine


def _ping_when_idle(engine: Engine, *, idle_seconds: float) -> None:
    """Checks a pooled connection before use only when it has been idle a while.

    pool_pre_ping would add a round trip to every checkout, a good share of a short workflow's
    time; a connection that is in steady use has just proven itself. A failed ping raises
    DisconnectionError, on which the pool replaces the connection and tries again.
    """

    @sa.event.listens_for(engine, "checkin")
    def _stamp(_dbapi_connection: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @sa.event.listens_for(engine, "checkout")
    def _ping(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in_at = record.info.get("checked_in_at")
        if checked_in_at is None or time.monotonic() - checked_in_at < idle_seconds:
            return
        try:
            with dbapi_connection.cursor() as cursor:
                cursor.execute("SELECT 1")
            if not dbapi_connection.autocommit:
                dbapi_connection.rollback()
        except engine.dialect.loaded_dbapi.Error as error:
            raise sa.exc.DisconnectionError(str(error)) from error


def is_reachable(engine: Engine) -> bool:
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        return False
    return True


def wait_until_listening(url: str, *, seconds: float, interval: float = 1.0) -> bool:
    """Whether the database server's port accepted a connection within `seconds`. A job started with its database
    (compose, Kubernetes) may come up before the server listens, and no orchestrator can be relied on to order the
    two. Only the port is waited for: a refused login (a wrong password) is an answer, and is not waited out.
    A URL without a host (a local socket) is not waited for."""
    parsed = make_url(url)
    if not parsed.host:
        return True
    address = (parsed.host, parsed.port or 5432)
    deadline = time.monotonic() + seconds
    while True:
        try:
            with socket.create_connection(address, timeout=min(interval, 5.0)):
                return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)


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


class SchemaNotMigratedError(ConfigurationError):
    """The database's schema is not at the revision this code needs: the database setup has not run."""


def require_migrated(engine: Engine, *, script_location: Path, schema: str) -> None:
    """Returns if `schema` is at the newest revision under `script_location`; SchemaNotMigratedError otherwise.

    Services do not migrate: their roles may not change the schema (civicflow/database_setup.py does, as the owner).
    """
    config = Config()
    config.set_main_option("script_location", str(script_location))
    head = ScriptDirectory.from_config(config).get_current_head()
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"version_table_schema": schema})
        current = context.get_current_revision()
    if current != head:
        raise SchemaNotMigratedError(
            f"the database's {schema} schema is at revision {current or '(none)'}, this version needs {head}:"
            " run the database setup first (python -m civicflow.database_setup; make run does it itself)"
        )


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
