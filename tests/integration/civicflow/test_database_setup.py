"""The database setup on a real PostgreSQL: each service logs in as a role that does its own work and nothing more,
none of them can switch the log's guards off, and the setup can run again, also over what an older version made.

Every check runs on the service's own connection, the URL the setup hands it (as `make run` hands it on).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from audit_service.log.tables import MIGRATIONS as AUDIT_MIGRATIONS
from civicflow.database_setup import (
    AUDIT_WRITER_ROLE,
    civicflow_migrations,
    drop_roles,
    new_passwords,
    setup_database,
)
from civicflow.launch.local_database import scratch_database
from civicflow.settings import REPO_ROOT
from orchestrator.storage.tables import MIGRATIONS as ORCHESTRATOR_MIGRATIONS
from tests.support.databases import SetUpDatabase, role_prefix, roles_on, set_up_database

SERVICES = ("orchestrator", "audit")
SCHEMAS = ("orchestrator", "audit")
INSUFFICIENT_PRIVILEGE = "42501"
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


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


@dataclass(frozen=True)
class Table:
    name: str  # schema-qualified
    oid: int  # by which a role without USAGE on the schema may still ask about its privileges
    column: str  # its first column


def tables(admin_url: str, schema: str) -> list[Table]:
    """Looked up as the administrator: a role without USAGE on a schema cannot even name what is in it."""
    with connected(admin_url) as connection:
        rows = connection.execute(
            sa.text(
                """SELECT c.oid, c.relname,
                          (SELECT attname FROM pg_attribute WHERE attrelid = c.oid AND attnum = 1) AS first_column
                     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                    WHERE n.nspname = :schema AND c.relkind = 'r' ORDER BY c.relname"""
            ),
            {"schema": schema},
        ).all()
    return [Table(name=f"{schema}.{row.relname}", oid=row.oid, column=row.first_column) for row in rows]


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


def changes(table: Table) -> dict[str, str]:
    """A statement of each kind that would write to or remove from `table` (a column set to itself, say)."""
    return {
        "INSERT": f"INSERT INTO {table.name} DEFAULT VALUES",
        "UPDATE": f'UPDATE {table.name} SET "{table.column}" = "{table.column}"',
        "DELETE": f"DELETE FROM {table.name}",
        "TRUNCATE": f"TRUNCATE {table.name}",
    }


@pytest.fixture(scope="module")
def audit_tables(database: SetUpDatabase) -> list[Table]:
    return tables(database.admin_url, "audit")


@pytest.fixture(scope="module")
def orchestrator_tables(database: SetUpDatabase) -> list[Table]:
    return tables(database.admin_url, "orchestrator")


def names(tables: list[Table]) -> list[str]:
    return [table.name for table in tables]


def test_the_schemas_hold_the_tables_the_tests_below_go_through(
    audit_tables: list[Table], orchestrator_tables: list[Table]
) -> None:
    assert {"audit.audit_trail", "audit.log_head", "audit.merkle_nodes", "audit.checkpoints"} <= set(
        names(audit_tables)
    )
    assert {"orchestrator.workflow_instances", "orchestrator.workflow_steps"} <= set(names(orchestrator_tables))


@pytest.mark.parametrize("service", SERVICES)
def test_reset_role_leaves_the_service_an_ordinary_role(database: SetUpDatabase, service: str) -> None:
    url = getattr(database.accounts, service)
    with connected(url) as connection:
        if service == "audit":  # the role it is a member of, which the log's first migration granted
            connection.execute(sa.text(f"SET ROLE {AUDIT_WRITER_ROLE}"))
        connection.execute(sa.text("RESET ROLE"))
        who = connection.execute(sa.text("SELECT current_user, session_user")).one()
        # Every role it is or may become by SET ROLE: none has a power beyond the privileges it was granted.
        powers = connection.execute(
            sa.text(
                """SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls
                     FROM pg_roles WHERE pg_has_role(current_user, oid, 'MEMBER')"""
            )
        ).all()
        becoming_the_owner = refused(connection, f'SET ROLE "{user_of(database.accounts.owner)}"')
        becoming_the_admin = refused(connection, f'SET ROLE "{user_of(database.admin_url)}"')

    assert tuple(who) == (user_of(url), user_of(url))
    assert user_of(url) in {row.rolname for row in powers}
    assert [row.rolname for row in powers if any(row[1:])] == []
    assert becoming_the_owner == INSUFFICIENT_PRIVILEGE
    assert becoming_the_admin == INSUFFICIENT_PRIVILEGE


@pytest.mark.parametrize("service", SERVICES)
def test_no_service_can_disable_a_trigger_or_replicate_past_one(
    database: SetUpDatabase, service: str, audit_tables: list[Table], orchestrator_tables: list[Table]
) -> None:
    with connected(getattr(database.accounts, service)) as connection:
        disabling = {
            table.name: refused(connection, f"ALTER TABLE {table.name} DISABLE TRIGGER ALL")
            for table in [*audit_tables, *orchestrator_tables]
        }
        replica = refused(connection, "SET session_replication_role = replica")

    assert disabling == dict.fromkeys(disabling, INSUFFICIENT_PRIVILEGE)
    assert replica == INSUFFICIENT_PRIVILEGE
    with connected(database.admin_url) as connection:
        guards = connection.execute(
            sa.text(
                """SELECT tgname, tgenabled FROM pg_trigger
                    WHERE tgrelid = 'audit.audit_trail'::regclass AND NOT tgisinternal"""
            )
        ).all()
    # 'A': enabled ALWAYS, so that not even session_replication_role = replica silences them.
    assert guards and {state for _, state in guards} == {"A"}


def test_the_orchestrator_can_neither_read_nor_write_the_audit_log(
    database: SetUpDatabase, audit_tables: list[Table]
) -> None:
    with connected(database.accounts.orchestrator) as connection:
        outcomes = {
            (table.name, kind): refused(connection, statement)
            for table in audit_tables
            for kind, statement in {"SELECT": f"SELECT * FROM {table.name}", **changes(table)}.items()
        }

    assert outcomes == dict.fromkeys(outcomes, INSUFFICIENT_PRIVILEGE)


def test_the_audit_service_cannot_read_the_orchestrators_tables(
    database: SetUpDatabase, orchestrator_tables: list[Table]
) -> None:
    with connected(database.accounts.audit) as connection:
        outcomes = {table.name: refused(connection, f"SELECT * FROM {table.name}") for table in orchestrator_tables}

    assert outcomes == dict.fromkeys(outcomes, INSUFFICIENT_PRIVILEGE)


def test_the_audit_service_can_change_nothing_in_the_log_but_its_head(
    database: SetUpDatabase, audit_tables: list[Table]
) -> None:
    with connected(database.accounts.audit) as connection:
        outcomes = {
            (table.name, kind): refused(connection, statement)
            for table in audit_tables
            for kind, statement in changes(table).items()
            if kind != "INSERT"
        }

    moving_the_head = outcomes.pop(("audit.log_head", "UPDATE"))
    # Refused by privileges, before any trigger is asked: nothing rests on a guard an owner could switch off.
    assert outcomes == dict.fromkeys(outcomes, INSUFFICIENT_PRIVILEGE)
    assert moving_the_head is None


def test_each_services_privileges_are_those_the_issue_grants_and_no_more(
    database: SetUpDatabase, audit_tables: list[Table], orchestrator_tables: list[Table]
) -> None:
    def privileges(service: str) -> dict[str, set[str]]:
        with connected(getattr(database.accounts, service)) as connection:
            return {
                table.name: {
                    privilege
                    for privilege in TABLE_PRIVILEGES
                    if connection.execute(
                        sa.text("SELECT has_table_privilege(:oid, :privilege)"),
                        {"oid": table.oid, "privilege": privilege},
                    ).scalar_one()
                }
                for table in [*audit_tables, *orchestrator_tables]
            }

    audit, orchestrator = privileges("audit"), privileges("orchestrator")
    audit_log, orchestrator_schema = names(audit_tables), names(orchestrator_tables)

    # The audit role: INSERT and SELECT on the log's tables, UPDATE of the head (which it never inserts).
    expected = {table: {"SELECT", "INSERT"} for table in audit_log}
    expected["audit.alembic_version"] = {"SELECT"}
    expected["audit.log_head"] = {"SELECT", "UPDATE"}
    assert {table: audit[table] for table in audit_log} == expected
    assert {table: audit[table] for table in orchestrator_schema} == dict.fromkeys(orchestrator_schema, set())
    # The orchestrator: nothing at all on the audit log; its own tables, without removing anything from them.
    assert {table: orchestrator[table] for table in audit_log} == dict.fromkeys(audit_log, set())
    for table in orchestrator_schema:
        assert "SELECT" in orchestrator[table], table
        assert not orchestrator[table] & {"DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"}, table


def test_no_service_logs_in_as_the_owner_of_what_it_uses(database: SetUpDatabase) -> None:
    owner = user_of(database.accounts.owner)
    with connected(database.admin_url) as connection:
        owners = set(
            connection.execute(
                sa.text(
                    """SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = ANY(:schemas)
                       UNION SELECT c.relowner::regrole::text FROM pg_class c
                              JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY(:schemas)
                       UNION SELECT p.proowner::regrole::text FROM pg_proc p
                              JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY(:schemas)"""
                ),
                {"schemas": list(SCHEMAS)},
            ).scalars()
        )
    assert owners == {owner}

    for service in SERVICES:
        url = getattr(database.accounts, service)
        assert user_of(url) != owner
        with connected(url) as connection:
            is_owner = connection.execute(
                sa.text("SELECT pg_has_role(current_user, :owner, 'MEMBER')"), {"owner": owner}
            ).scalar_one()
        assert is_owner is False, service


@pytest.fixture
def fresh(postgres_server_url: str) -> Iterator[SetUpDatabase]:
    """A database of its own, set up once: for the tests that set it up again."""
    with set_up_database(postgres_server_url, name_prefix="civicflow_setup") as database:
        yield database


def catalogue(admin_url: str, prefix: str) -> dict[str, Any]:
    """What the setup decides: its roles' powers, who owns what, every privilege granted, the schemas' revisions."""
    with connected(admin_url) as connection:
        return {
            "roles": connection.execute(
                sa.text(
                    """SELECT rolname, rolsuper, rolcreaterole, rolcreatedb, rolcanlogin, rolbypassrls
                         FROM pg_roles WHERE rolname LIKE :prefix ORDER BY rolname"""
                ),
                {"prefix": f"{prefix}\\_%"},
            ).all(),
            "schemas": connection.execute(
                sa.text(
                    """SELECT nspname, nspowner::regrole::text, nspacl::text FROM pg_namespace
                        WHERE nspname = ANY(:schemas) ORDER BY nspname"""
                ),
                {"schemas": list(SCHEMAS)},
            ).all(),
            "relations": connection.execute(
                sa.text(
                    """SELECT c.oid::regclass::text, c.relowner::regrole::text,
                              ARRAY(SELECT unnest(c.relacl)::text ORDER BY 1)
                         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                        WHERE n.nspname = ANY(:schemas) AND c.relkind IN ('r', 'S') ORDER BY 1"""
                ),
                {"schemas": list(SCHEMAS)},
            ).all(),
            "revisions": [
                connection.execute(sa.text(f"SELECT version_num FROM {schema}.alembic_version")).scalar_one()
                for schema in SCHEMAS
            ],
        }


def password_is(admin_url: str, role: str, password: str) -> bool:
    """Whether `password` is the role's, checked against its stored verifier (a local server may not ask for it)."""
    with connected(admin_url) as connection:
        stored = connection.execute(
            sa.text("SELECT rolpassword FROM pg_authid WHERE rolname = :role"), {"role": role}
        ).scalar_one()
    if stored.startswith("md5"):
        return bool(stored == "md5" + hashlib.md5((password + role).encode()).hexdigest())
    # SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey> (RFC 5802, RFC 7677)
    _, parameters, keys = stored.split("$")
    iterations, salt = parameters.split(":")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(salt), int(iterations))
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    return hashlib.sha256(client_key).digest() == base64.b64decode(keys.split(":")[0])


def test_setting_up_again_changes_nothing_but_the_passwords_it_is_given(fresh: SetUpDatabase) -> None:
    before = catalogue(fresh.admin_url, fresh.prefix)
    kinds = ("owner", *SERVICES)
    passwords = {kind: str(make_url(getattr(fresh.accounts, kind)).password) for kind in kinds}

    again = setup_database(fresh.admin_url, civicflow_migrations(), passwords=passwords, prefix=fresh.prefix)
    after_again = catalogue(fresh.admin_url, fresh.prefix)
    still = {kind: password_is(fresh.admin_url, user_of(getattr(again, kind)), passwords[kind]) for kind in kinds}
    new = new_passwords()
    rotated = setup_database(fresh.admin_url, civicflow_migrations(), passwords=new, prefix=fresh.prefix)
    after_rotation = catalogue(fresh.admin_url, fresh.prefix)
    old = {kind: password_is(fresh.admin_url, user_of(getattr(rotated, kind)), passwords[kind]) for kind in kinds}
    now = {kind: password_is(fresh.admin_url, user_of(getattr(rotated, kind)), new[kind]) for kind in kinds}

    assert again == fresh.accounts
    assert after_again == before
    assert after_rotation == before
    assert still == dict.fromkeys(kinds, True)
    assert (old, now) == (dict.fromkeys(kinds, False), dict.fromkeys(kinds, True))
    for kind in kinds:
        assert make_url(getattr(rotated, kind)).password == new[kind]


def migrate_as_superuser(admin_url: str, schema: str, scripts: Any, revision: str) -> None:
    """What an older version did at every start: migrate its own schema, logged in as a superuser."""
    engine = sa.create_engine(admin_url)
    config = Config()
    config.set_main_option("script_location", str(scripts))
    try:
        with engine.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
            config.attributes.update(connection=connection, schema=schema)
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def test_schemas_an_older_version_made_as_a_superuser_are_handed_to_the_owner_and_migrated(
    postgres_server_url: str,
) -> None:
    with scratch_database(postgres_server_url, prefix="civicflow_upgrade") as admin_url:
        migrate_as_superuser(admin_url, "orchestrator", ORCHESTRATOR_MIGRATIONS, "0003")
        # Before the Merkle log: the owner's migration rewrites this trail, which only the table's owner may.
        migrate_as_superuser(admin_url, "audit", AUDIT_MIGRATIONS, "0001")
        with connected(admin_url) as connection:
            connection.execute(
                sa.text(
                    """INSERT INTO audit.audit_trail (seq, instance_id, step_name, step_index, attempt, status,
                                                      started_at, completed_at, input_json, output_json)
                       VALUES (1, gen_random_uuid(), 'fetch', 0, 1, 'success', now(), now(), '{}', '{}')"""
                )
            )
            connection.commit()

        with roles_on(admin_url) as database:
            owner = user_of(database.accounts.owner)
            after = catalogue(admin_url, database.prefix)
            with connected(database.accounts.audit) as connection:
                kept = connection.execute(sa.text("SELECT step_name FROM audit.audit_trail")).scalars().all()
                writers = connection.execute(sa.text("SELECT DISTINCT writer FROM audit.audit_trail")).scalars().all()
            with connected(database.accounts.orchestrator) as connection:
                disabling = refused(connection, "ALTER TABLE orchestrator.workflow_instances DISABLE TRIGGER ALL")

    assert [schema[1] for schema in after["schemas"]] == [owner, owner]
    assert {relation[1] for relation in after["relations"]} == {owner}
    heads = [_head(ORCHESTRATOR_MIGRATIONS), _head(AUDIT_MIGRATIONS)]
    assert after["revisions"] == heads
    assert kept == ["fetch"] and writers == [""]
    assert disabling == INSUFFICIENT_PRIVILEGE


def _head(scripts: Any) -> str:
    config = Config()
    config.set_main_option("script_location", str(scripts))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def run_setup_command(passwords_file: Path, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`python -m civicflow.database_setup`, as the compose and Kubernetes jobs run it."""
    return subprocess.run(
        [sys.executable, "-m", "civicflow.database_setup", "--passwords-file", str(passwords_file)],
        env={**os.environ, **environment},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_setup_command_makes_the_passwords_file_once_and_sets_the_roles_up_with_it(
    postgres_server_url: str, tmp_path: Path
) -> None:
    passwords_file, admin_password = tmp_path / "database-passwords.json", tmp_path / "admin-password"
    prefix = role_prefix()
    with scratch_database(postgres_server_url, prefix="civicflow_setup_command") as admin_url:
        # The administrator's password from a file, as the compose job reads it (a trusting server ignores it).
        admin_password.write_text((make_url(admin_url).password or "unused") + "\n")
        environment = {
            "DATABASE_ADMIN_URL": make_url(admin_url).set(password=None).render_as_string(hide_password=False),
            "DATABASE_ADMIN_PASSWORD_FILE": str(admin_password),
            "DATABASE_ROLE_PREFIX": prefix,
        }
        try:
            first = run_setup_command(passwords_file, environment)
            made = passwords_file.read_text()
            second = run_setup_command(passwords_file, environment)
            passwords = json.loads(made)
            roles = {kind: f"{prefix}_{kind}" for kind in ("owner", *SERVICES)}
            set_to_them = {kind: password_is(admin_url, roles[kind], passwords[kind]) for kind in roles}
            revisions = catalogue(admin_url, prefix)["revisions"]
        finally:
            drop_roles(admin_url, prefix=prefix)

    assert first.returncode == 0, first.stdout + first.stderr
    assert second.returncode == 0, second.stdout + second.stderr
    assert first.stdout.splitlines()[-1] == "database ready: roles, migrations and grants"
    assert stat.S_IMODE(passwords_file.stat().st_mode) == 0o600
    assert passwords_file.read_text() == made
    assert set_to_them == dict.fromkeys(set_to_them, True)
    assert revisions == [_head(ORCHESTRATOR_MIGRATIONS), _head(AUDIT_MIGRATIONS)]


@pytest.mark.parametrize(
    ("content", "environment", "problem"),
    [
        ('{"owner": "only-one"}', {"DATABASE_ADMIN_URL": "postgresql://nobody@nowhere/x"}, "must be a JSON object"),
        ("not json", {"DATABASE_ADMIN_URL": "postgresql://nobody@nowhere/x"}, "must be a JSON object"),
        (
            None,
            {"DATABASE_ADMIN_URL": "postgresql://nobody@nowhere/x", "DATABASE_ADMIN_PASSWORD_FILE": "/nonexistent"},
            "DATABASE_ADMIN_PASSWORD_FILE /nonexistent",
        ),
        (None, {}, "DATABASE_ADMIN_URL must name an administrative connection"),
    ],
    ids=["passwords missing", "not JSON", "no admin password file", "no admin URL"],
)
def test_the_setup_command_refuses_what_it_cannot_use_with_one_line_and_status_2_changing_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str | None, environment: dict[str, str], problem: str
) -> None:
    passwords_file = tmp_path / "database-passwords.json"
    if content is not None:
        passwords_file.write_text(content)
    for name in ("DATABASE_ADMIN_URL", "DATABASE_ADMIN_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)

    finished = run_setup_command(passwords_file, environment)

    assert finished.returncode == 2
    assert len(finished.stderr.splitlines()) == 1 and problem in finished.stderr
    assert (passwords_file.read_text() if passwords_file.exists() else None) == content
