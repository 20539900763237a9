"""A scratch database set up as `make run` sets one up: the services' roles, migrated schemas and grants; and
connections to it as one of those roles, with what PostgreSQL refuses them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from civicflow.database_setup import DatabaseAccounts, civicflow_migrations, drop_roles, new_passwords, setup_database
from civicflow.launch.local_database import database_url_on, scratch_database


@dataclass(frozen=True)
class SetUpDatabase:
    # A superuser's URL of the database: for tests that look behind the services' backs.
    admin_url: str
    accounts: DatabaseAccounts
    prefix: str


def role_prefix() -> str:
    """Roles belong to the whole server, which other test sessions may share: each set gets a name of its own."""
    return f"cftest_{uuid.uuid4().hex[:10]}"


@contextmanager
def set_up_database(server_url: str, *, name_prefix: str = "civicflow_test") -> Iterator[SetUpDatabase]:
    """A new database with roles of their own; both gone afterwards (also if the test dropped the database)."""
    with scratch_database(server_url, prefix=name_prefix) as url:
        with roles_on(url) as database:
            yield database


@contextmanager
def roles_on(admin_url: str) -> Iterator[SetUpDatabase]:
    """The services' roles, migrations and grants on an existing database; the roles removed afterwards."""
    prefix = role_prefix()
    try:
        accounts = setup_database(admin_url, civicflow_migrations(), passwords=new_passwords(), prefix=prefix)
        yield SetUpDatabase(admin_url=admin_url, accounts=accounts, prefix=prefix)
    finally:
        name = sa.engine.make_url(admin_url).database
        drop_roles(
            admin_url if _exists(admin_url, str(name)) else database_url_on(admin_url, "postgres"), prefix=prefix
        )


def _exists(admin_url: str, name: str) -> bool:
    engine = sa.create_engine(database_url_on(admin_url, "postgres"))
    try:
        with engine.connect() as connection:
            found = connection.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name})
            return found.scalar() is not None
    finally:
        engine.dispose()


@contextmanager
def launcher_roles(admin_url: str, passwords: Path) -> Iterator[dict[str, str]]:
    """Environment that has a launcher make roles of their own on `admin_url`'s database; they are removed after."""
    prefix = role_prefix()
    try:
        yield {"DATABASE_URL": admin_url, "DATABASE_ROLE_PREFIX": prefix, "DATABASE_PASSWORDS_PATH": str(passwords)}
    finally:
        drop_roles(admin_url, prefix=prefix)


# The SQLSTATE of a statement refused for want of a privilege (ownership included).
INSUFFICIENT_PRIVILEGE = "42501"


@contextmanager
def connected(url: str) -> Iterator[sa.Connection]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            yield connection
    finally:
        engine.dispose()


def user_of(url: str) -> str:
    return str(make_url(url).username)


def refused(connection: sa.Connection, statement: str) -> str | None:
    """The SQLSTATE PostgreSQL refuses `statement` with on this connection, or None if it ran (it is rolled back)."""
    if connection.in_transaction():
        connection.commit()
    transaction = connection.begin()
    try:
        connection.execute(sa.text(statement))
    except sa.exc.DBAPIError as error:
        return str(getattr(error.orig, "pgcode", None))
    finally:
        transaction.rollback()
    return None
