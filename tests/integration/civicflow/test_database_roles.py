"""Each service's database role on its own connection, the URL the setup hands it (as `make run` hands it on): it
does its own work and nothing more, and none of them can switch the log's guards off."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from civicflow.database_setup import AUDIT_WRITER_ROLE
from tests.support.databases import (
    INSUFFICIENT_PRIVILEGE,
    SetUpDatabase,
    connected,
    refused,
    set_up_database,
    user_of,
)

SERVICES = ("orchestrator", "audit")
SCHEMAS = ("orchestrator", "audit")
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


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
    # DELETE only of a cancelled analysis's rows, which the tables' triggers allow and nothing else (migration 0011).
    deletable = {"orchestrator.impact_results", "orchestrator.impact_failures"}
    for table in orchestrator_schema:
        assert "SELECT" in orchestrator[table], table
        removing = {"TRUNCATE", "REFERENCES", "TRIGGER"} | (set() if table in deletable else {"DELETE"})
        assert not orchestrator[table] & removing, table
        assert ("DELETE" in orchestrator[table]) == (table in deletable), table


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


def test_another_civicflow_databases_audit_role_cannot_reach_this_log(
    database: SetUpDatabase, postgres_server_url: str
) -> None:
    """The writer role is the server's: a second set-up database's audit role is its member too, so only the
    database's own roles may connect to it."""
    with set_up_database(postgres_server_url, name_prefix="civicflow_neighbour") as neighbour:
        stranger = make_url(neighbour.accounts.audit).set(database=make_url(database.admin_url).database)
        with pytest.raises(sa.exc.OperationalError, match="permission denied for database"):
            with connected(stranger.render_as_string(hide_password=False)) as connection:
                connection.execute(sa.text("SELECT 1"))
