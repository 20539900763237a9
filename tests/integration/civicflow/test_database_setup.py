"""The database setup on a real PostgreSQL: it can run again, changing nothing but the passwords it is given, takes
over what an older version made as a superuser, and its command is what the compose and Kubernetes jobs run.
What each role may then do is tests/integration/civicflow/test_database_roles.py's.
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
import threading
import time
from collections.abc import Iterator
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
    civicflow_migrations,
    drop_roles,
    new_passwords,
    setup_database,
)
from civicflow.launch.local_database import scratch_database
from civicflow.launch.settings import free_ports
from civicflow.settings import REPO_ROOT
from orchestrator.storage.tables import MIGRATIONS as ORCHESTRATOR_MIGRATIONS
from tests.support.databases import (
    INSUFFICIENT_PRIVILEGE,
    SetUpDatabase,
    connected,
    refused,
    role_prefix,
    roles_on,
    set_up_database,
    user_of,
)

SERVICES = ("orchestrator", "audit")
SCHEMAS = ("orchestrator", "audit")


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
            {
                "DATABASE_ADMIN_URL": "postgresql://nobody@nowhere/x",
                "DATABASE_ADMIN_PASSWORD_FILE": "/nonexistent",
                "DATABASE_WAIT_SECONDS": "1",
            },
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


def test_the_setup_command_waits_for_an_unreachable_database_then_gives_up_with_status_1(tmp_path: Path) -> None:
    (closed_port,) = free_ports(1)
    environment = {
        "DATABASE_ADMIN_URL": f"postgresql://nobody@127.0.0.1:{closed_port}/civicflow",
        "DATABASE_WAIT_SECONDS": "2",
    }
    started = time.monotonic()

    finished = run_setup_command(tmp_path / "database-passwords.json", environment)

    assert finished.returncode == 1
    assert finished.stderr.splitlines()[-1] == "database setup gave up: the database did not listen within 2 s"
    assert time.monotonic() - started >= 2


def test_the_setup_command_waits_for_the_administrators_password_file_a_job_is_still_writing(
    postgres_server_url: str, tmp_path: Path
) -> None:
    passwords_file, admin_password = tmp_path / "database-passwords.json", tmp_path / "admin-password"
    prefix = role_prefix()
    with scratch_database(postgres_server_url, prefix="civicflow_setup_wait") as admin_url:
        environment = {
            "DATABASE_ADMIN_URL": make_url(admin_url).set(password=None).render_as_string(hide_password=False),
            "DATABASE_ADMIN_PASSWORD_FILE": str(admin_password),
            "DATABASE_ROLE_PREFIX": prefix,
        }
        # The credentials job, a little later than the setup.
        writer = threading.Timer(1.5, admin_password.write_text, args=[(make_url(admin_url).password or "unused")])
        writer.start()
        try:
            finished = run_setup_command(passwords_file, environment)
        finally:
            writer.join()
            drop_roles(admin_url, prefix=prefix)

    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert finished.stdout.splitlines()[-1] == "database ready: roles, migrations and grants"
