"""The database as Civicflow needs it: one login role per service, none a superuser, migrations by the owner alone.

    <prefix>_owner         owns the schemas and everything in them; runs the migrations, and nothing else
    <prefix>_orchestrator  reads and writes the `orchestrator` schema; no privilege at all on `audit`
    <prefix>_audit         INSERT and SELECT on the audit log's tables, UPDATE of its head row only

Owning a table is what lets a role disable its triggers, so no service logs in as the owner.
`setup_database` does it all from an administrative connection (a superuser, or a role with
CREATEROLE that owns the database): create or update the roles, give the owner the schemas
(and whatever an older version created in them), migrate as the owner, grant the services
their privileges. It is idempotent: `make run` calls it at every start, compose and Kubernetes
run `python -m civicflow.database_setup` as a one-off job before the services.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from civicflow.database import run_migrations, url_with_password_from, wait_until_listening
from civicflow.logs import configure_logging, log_format_from_environment
from civicflow.settings import ConfigurationError

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "civicflow"
SERVICES = ("orchestrator", "audit")
KINDS = ("owner", *SERVICES)
# A NOLOGIN role the audit schema's first migration grants the log's privileges to; the audit login role is a member.
AUDIT_WRITER_ROLE = "civicflow_audit_writer"
# Privileges of each service role, by schema and table; a table not listed gets none.
PRIVILEGES: dict[str, dict[str, dict[str, str]]] = {
    "orchestrator": {
        "orchestrator": {
            "workflow_instances": "SELECT, INSERT, UPDATE",
            "workflow_steps": "SELECT, INSERT",
            "appeals": "SELECT, INSERT",
            # DELETE for a cancelled analysis's rows, the one deletion their triggers allow (migration 0011).
            "impact_results": "SELECT, INSERT, DELETE",
            "impact_failures": "SELECT, INSERT, DELETE",
            # UPDATE for publishing a draft, the one change its trigger allows; never DELETE.
            "scheme_versions": "SELECT, INSERT, UPDATE",
            # UPDATE for the transitions its trigger allows (claim, unclaim, decide, ...); never DELETE.
            "review_tasks": "SELECT, INSERT, UPDATE",
            # Every template version a replica loaded: recorded once, never changed (its trigger).
            "template_versions": "SELECT, INSERT",
            # Read at start, to refuse a schema the database setup has not brought up to date.
            "alembic_version": "SELECT",
        }
    },
    "audit": {
        "audit": {
            "alembic_version": "SELECT",
            "audit_trail": "SELECT, INSERT",
            "merkle_nodes": "SELECT, INSERT",
            "checkpoints": "SELECT, INSERT",
            "signing_keys": "SELECT, INSERT",
            "log_head": "SELECT, UPDATE",
        }
    },
}


@dataclass(frozen=True)
class DatabaseAccounts:
    """The URL each role logs in with, password included."""

    owner: str
    orchestrator: str
    audit: str


def role_names(prefix: str) -> dict[str, str]:
    if not prefix.replace("_", "").isalnum() or not prefix[0].isalpha():
        raise ValueError(f"database role prefix {prefix!r} must be letters, digits and underscores")
    return {kind: f"{prefix}_{kind}" for kind in KINDS}


def new_passwords() -> dict[str, str]:
    return {kind: secrets.token_urlsafe(24) for kind in KINDS}


class PasswordsFileError(ConfigurationError):
    """A passwords file that is not the JSON object of the three roles' passwords."""


def load_passwords(path: Path) -> dict[str, str]:
    """The roles' passwords in `path`: a JSON object {"owner", "orchestrator", "audit"} of strings."""
    try:
        stored = json.loads(path.read_text())
    except OSError as error:
        raise PasswordsFileError(f"{path}: {error.strerror}") from None
    except ValueError:
        stored = None
    if not isinstance(stored, dict) or not all(isinstance(stored.get(kind), str) and stored[kind] for kind in KINDS):
        raise PasswordsFileError(f"{path} must be a JSON object of the passwords of {', '.join(KINDS)}")
    return {kind: stored[kind] for kind in KINDS}


def load_or_create_passwords(path: Path) -> dict[str, str]:
    """The roles' passwords kept in `path` (mode 0600), created there on first use (or made again if unreadable)."""
    if path.exists():
        try:
            return load_passwords(path)
        except PasswordsFileError:
            pass  # the setup gives every role the new passwords below
    passwords = new_passwords()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(passwords, file)
    return passwords


def setup_database(
    admin_url: str,
    migrations: Mapping[str, Path],
    *,
    passwords: Mapping[str, str],
    prefix: str = DEFAULT_PREFIX,
) -> DatabaseAccounts:
    """Roles, ownership, migrations (schema name -> Alembic scripts) and grants; returns each role's URL."""
    names = role_names(prefix)
    accounts = DatabaseAccounts(**{kind: _url_as(admin_url, names[kind], passwords[kind]) for kind in KINDS})
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            _create_roles(connection, names, passwords)
            _hand_schemas_to_owner(connection, names["owner"], schemas=list(migrations))
    finally:
        admin.dispose()
    owner = sa.create_engine(accounts.owner)
    try:
        for schema, scripts in migrations.items():
            run_migrations(owner, script_location=scripts, schema=schema)
        with owner.begin() as connection:
            _grant(connection, names)
    finally:
        owner.dispose()
    log.info("database roles ready", extra={"roles": sorted(names.values())})
    return accounts


def drop_roles(admin_url: str, *, prefix: str) -> None:
    """Removes the login roles of `prefix`, with what they own in the database of `admin_url` (for tests).

    A role that owns objects in, or holds privileges on, another database stays: DROP ROLE refuses it.
    """
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    names = ", ".join(f'"{name}"' for name in role_names(prefix).values())
    try:
        with admin.connect() as connection:
            existing = connection.execute(
                sa.text("SELECT count(*) FROM pg_roles WHERE rolname = ANY(:names)"),
                {"names": list(role_names(prefix).values())},
            ).scalar_one()
            if existing:
                connection.execute(sa.text(f"DROP OWNED BY {names}"))
                connection.execute(sa.text(f"DROP ROLE IF EXISTS {names}"))
    finally:
        admin.dispose()


def _create_roles(connection: sa.Connection, names: Mapping[str, str], passwords: Mapping[str, str]) -> None:
    database = connection.execute(sa.text("SELECT current_database()")).scalar_one()
    for kind, name in names.items():
        # Roles belong to the whole cluster: another database of it may create this one at the same moment.
        connection.execute(
            sa.text(
                f"""DO $$ BEGIN CREATE ROLE "{name}";
                    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"""
            )
        )
        # Whatever the role was before, it is an ordinary login role now.
        connection.execute(
            sa.text(
                f'ALTER ROLE "{name}" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS'
                f" PASSWORD :password"
            ).bindparams(password=passwords[kind])
        )
        connection.execute(sa.text(f'GRANT CONNECT ON DATABASE "{database}" TO "{name}"'))
    connection.execute(
        sa.text(
            f"""DO $$ BEGIN CREATE ROLE {AUDIT_WRITER_ROLE} NOLOGIN;
                EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"""
        )
    )
    # The owner may create the schemas' objects and grant the writer role, as the audit migrations do.
    connection.execute(sa.text(f'GRANT CREATE ON DATABASE "{database}" TO "{names["owner"]}"'))
    connection.execute(sa.text(f'GRANT {AUDIT_WRITER_ROLE} TO "{names["owner"]}" WITH ADMIN OPTION'))
    connection.execute(sa.text(f'GRANT {AUDIT_WRITER_ROLE} TO "{names["audit"]}"'))
    # Nobody creates anything in the public schema (PostgreSQL before 15 let every role).
    connection.execute(sa.text("REVOKE CREATE ON SCHEMA public FROM PUBLIC"))
    # Only these roles connect: the writer role is the whole server's, so another Civicflow database's
    # audit role, a member of it too, could otherwise append to this database's log.
    connection.execute(sa.text(f'REVOKE CONNECT, TEMPORARY ON DATABASE "{database}" FROM PUBLIC'))


def _hand_schemas_to_owner(connection: sa.Connection, owner: str, *, schemas: Sequence[str]) -> None:
    """The owner owns the schemas and every table, sequence and function in them, also those made before it existed."""
    for schema in schemas:
        connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}" AUTHORIZATION "{owner}"'))
        connection.execute(sa.text(f'ALTER SCHEMA "{schema}" OWNER TO "{owner}"'))
        objects = connection.execute(
            sa.text(
                """
                SELECT format('ALTER %s %I.%I OWNER TO %I',
                              CASE c.relkind WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END, n.nspname, c.relname, :owner)
                  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE n.nspname = :schema AND c.relkind IN ('r', 'p', 'S')
                UNION ALL
                SELECT format('ALTER FUNCTION %s OWNER TO %I', p.oid::regprocedure, :owner)
                  FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                 WHERE n.nspname = :schema
                """
            ),
            {"schema": schema, "owner": owner},
        ).scalars()
        for statement in list(objects):
            connection.execute(sa.text(statement))


def _grant(connection: sa.Connection, names: Mapping[str, str]) -> None:
    for service in SERVICES:
        role = names[service]
        for schema in ("orchestrator", "audit"):
            # Nothing a service was granted before stays, unless the table below grants it again.
            connection.execute(sa.text(f'REVOKE ALL ON ALL TABLES IN SCHEMA "{schema}" FROM "{role}"'))
            connection.execute(sa.text(f'REVOKE ALL ON SCHEMA "{schema}" FROM "{role}"'))
        for schema, tables in PRIVILEGES[service].items():
            connection.execute(sa.text(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"'))
            for table, privileges in tables.items():
                connection.execute(sa.text(f'GRANT {privileges} ON "{schema}"."{table}" TO "{role}"'))


def civicflow_migrations() -> dict[str, Path]:
    """Each schema and the Alembic scripts of the service that owns it."""
    from audit_service.log.tables import MIGRATIONS as AUDIT_MIGRATIONS
    from orchestrator.storage.tables import MIGRATIONS as ORCHESTRATOR_MIGRATIONS

    return {"orchestrator": ORCHESTRATOR_MIGRATIONS, "audit": AUDIT_MIGRATIONS}


def _url_as(admin_url: str, user: str, password: str) -> str:
    return make_url(admin_url).set(username=user, password=password).render_as_string(hide_password=False)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m civicflow.database_setup", description=__doc__)
    parser.add_argument(
        "--passwords-file",
        type=Path,
        required=True,
        help='JSON {"owner", "orchestrator", "audit"} of the roles\' passwords; created (0600) if missing',
    )
    parser.add_argument("--prefix", default=os.environ.get("DATABASE_ROLE_PREFIX", DEFAULT_PREFIX))
    parser.add_argument(
        "--wait-seconds",
        type=float,
        default=os.environ.get("DATABASE_WAIT_SECONDS", "120"),
        help="how long to wait for the administrator's password file and the database server to listen (default 120)",
    )
    arguments = parser.parse_args(argv)
    log_format = log_format_from_environment(os.environ.get("LOG_FORMAT"))
    configure_logging("database_setup", os.environ.get("LOG_LEVEL", "INFO"), log_format)
    admin_url = os.environ.get("DATABASE_ADMIN_URL")
    if not admin_url:
        print("DATABASE_ADMIN_URL must name an administrative connection", file=sys.stderr)
        return 2
    admin_password_file = os.environ.get("DATABASE_ADMIN_PASSWORD_FILE")
    deadline = time.monotonic() + arguments.wait_seconds
    # Started with the job that writes the secrets (compose with Podman starts them together), the setup waits for
    # them; the job writes the roles' passwords before the administrator's, so the second is waited for.
    if admin_password_file:
        _wait_for_file(Path(admin_password_file), deadline=deadline)
    try:
        admin_url = url_with_password_from(
            admin_url,
            Path(admin_password_file) if admin_password_file else None,
            setting="DATABASE_ADMIN_PASSWORD_FILE",
        )
        # A file given to it (a mounted secret) is used as it is; only a missing one is made.
        exists = arguments.passwords_file.exists()
        passwords = (
            load_passwords(arguments.passwords_file) if exists else load_or_create_passwords(arguments.passwords_file)
        )
    except ConfigurationError as error:
        print(f"database setup refused: {error}", file=sys.stderr)
        return 2
    if not wait_until_listening(admin_url, seconds=max(0.0, deadline - time.monotonic())):
        print(
            f"database setup gave up: the database did not listen within {arguments.wait_seconds:g} s", file=sys.stderr
        )
        return 1
    setup_database(admin_url, civicflow_migrations(), passwords=passwords, prefix=arguments.prefix)
    print("database ready: roles, migrations and grants")
    return 0


def _wait_for_file(path: Path, *, deadline: float) -> None:
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
