"""PostgreSQL itself keeps scheme versions: nobody deletes one, a draft changes only into published, and a published
version never changes, whoever asks (the orchestrator's own role, or the table's owner)."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from tests.integration.orchestrator.schemes.conftest import ADMIN, ANALYST
from tests.support.databases import INSUFFICIENT_PRIVILEGE
from tests.support.scheme_versions import fresh_scheme
from tests.support.seeded_schemes import seeded_document

RESTRICT_VIOLATION = "23001"
CHECK_VIOLATION = "23514"


@pytest.fixture(scope="module")
def superuser(database_url: str) -> Any:
    engine = sa.create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def versions(open_service: Any) -> str:
    """A scheme with version 1 published and version 2 a draft."""
    name = fresh_scheme("it")

    async def make() -> None:
        async with open_service() as service:
            await service.create_draft(name, seeded_document("scheme_alpha"), principal=ANALYST)
            await service.create_draft(name, seeded_document("scheme_alpha", max_income=1), principal=ANALYST)
            await service.publish(name, 1, effective_from=date(2026, 1, 1), principal=ADMIN)

    asyncio.run(make())
    return name


def refused(engine: sa.Engine, statement: str, name: str) -> tuple[str | None, str]:
    """The SQLSTATE and message PostgreSQL refuses the statement with, or (None, '') if it ran (then rolled back)."""
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            connection.execute(sa.text(statement), {"name": name})
        except sa.exc.DBAPIError as error:
            return getattr(error.orig, "pgcode", None), str(error.orig)
        finally:
            transaction.rollback()
    return None, ""


WHERE = "WHERE scheme_name = :name AND version = {version}"
PUBLISHED_CHANGES = [
    "UPDATE orchestrator.scheme_versions SET document = '{}' " + WHERE.format(version=1),
    "UPDATE orchestrator.scheme_versions SET effective_from = '2020-01-01' " + WHERE.format(version=1),
    "UPDATE orchestrator.scheme_versions SET published_by = 'someone' " + WHERE.format(version=1),
    "UPDATE orchestrator.scheme_versions SET status = 'draft', effective_from = NULL, published_by = NULL,"
    " published_at = NULL " + WHERE.format(version=1),
]
DRAFT_CHANGES = [
    "UPDATE orchestrator.scheme_versions SET document = '{\"x\": 1}' " + WHERE.format(version=2),
    "UPDATE orchestrator.scheme_versions SET created_by = 'someone' " + WHERE.format(version=2),
    "UPDATE orchestrator.scheme_versions SET rule_hash = repeat('0', 64), status = 'published',"
    " effective_from = '2027-01-01', published_by = 'x', published_at = now() " + WHERE.format(version=2),
]


@pytest.mark.parametrize("statement", PUBLISHED_CHANGES + DRAFT_CHANGES)
@pytest.mark.parametrize("who", ["orchestrator", "superuser"])
def test_no_role_changes_a_version_but_by_publishing_a_draft(
    statement: str, who: str, versions: str, scheme_engine: sa.Engine, superuser: sa.Engine
) -> None:
    engine = scheme_engine if who == "orchestrator" else superuser
    code, message = refused(engine, statement, versions)
    assert code == RESTRICT_VIOLATION, message


@pytest.mark.parametrize("who", ["orchestrator", "superuser"])
def test_no_role_deletes_a_version(who: str, versions: str, scheme_engine: sa.Engine, superuser: sa.Engine) -> None:
    delete = "DELETE FROM orchestrator.scheme_versions WHERE scheme_name = :name"
    if who == "orchestrator":
        assert refused(scheme_engine, delete, versions)[0] == INSUFFICIENT_PRIVILEGE
    else:
        code, message = refused(superuser, delete, versions)
        assert code == RESTRICT_VIOLATION and "cannot be deleted" in message
    truncate = "TRUNCATE orchestrator.scheme_versions"
    assert refused(superuser, truncate, versions)[0] == RESTRICT_VIOLATION


def test_a_draft_may_be_published_once_with_all_its_publication_fields(versions: str, scheme_engine: sa.Engine) -> None:
    half = "UPDATE orchestrator.scheme_versions SET status = 'published' " + WHERE.format(version=2)
    assert refused(scheme_engine, half, versions)[0] == CHECK_VIOLATION
    whole = (
        "UPDATE orchestrator.scheme_versions SET status = 'published', effective_from = '2027-01-01',"
        " published_by = 'admin-9', published_at = now() " + WHERE.format(version=2)
    )
    assert refused(scheme_engine, whole, versions) == (None, "")
