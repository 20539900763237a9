"""The scheme store and service on a real PostgreSQL and a real audit service: numbering under concurrent drafts,
the version in force on a date, and the audit entries of each change."""

from __future__ import annotations

import asyncio
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from civicflow.auth.access import PermissionDeniedError
from civicflow.rules.document import DocumentError, rule_hash
from orchestrator.errors import InputValidationError, SchemeNotFoundError, SchemeVersionConflictError
from orchestrator.schemes.audit_records import audit_instance_id
from tests.integration.orchestrator.schemes.conftest import ADMIN, ANALYST
from tests.support.scheme_versions import fresh_scheme
from tests.support.seeded_schemes import seeded_document


def test_concurrent_drafts_of_one_scheme_get_distinct_consecutive_versions(open_service: Any) -> None:
    name = fresh_scheme("it")

    async def draft_many() -> list[int]:
        async with open_service() as service:
            drafts = [
                service.create_draft(name, seeded_document("scheme_alpha", max_income=100000 + i), principal=ANALYST)
                for i in range(12)
            ]
            return [version.version for version in await asyncio.gather(*drafts)]

    numbers = asyncio.run(draft_many())

    assert sorted(numbers) == list(range(1, 13))


def test_the_version_in_force_is_the_latest_published_on_or_before_the_date(open_service: Any) -> None:
    name = fresh_scheme("it")

    async def scenario() -> dict[str, int | None]:
        async with open_service() as service:
            for income in (100000, 200000, 300000, 400000):
                await service.create_draft(name, seeded_document("scheme_alpha", max_income=income), principal=ANALYST)
            await service.publish(name, 1, effective_from=date(2026, 1, 1), principal=ADMIN)
            await service.publish(name, 3, effective_from=date(2026, 3, 1), principal=ADMIN)
            # Same date as version 3, published after it: the higher version, 3, stays in force... until 4.
            await service.publish(name, 2, effective_from=date(2026, 3, 1), principal=ADMIN)
            days = {"2025-12-31": None, "2026-01-01": 1, "2026-02-28": 1, "2026-03-01": 3, "2030-01-01": 3}
            found = {}
            for day in days:
                version = await service.in_force(name, date.fromisoformat(day))
                found[day] = version.version if version else None
            # Version 4 stays a draft: never in force.
            return found

    assert asyncio.run(scenario()) == {
        "2025-12-31": None,
        "2026-01-01": 1,
        "2026-02-28": 1,
        "2026-03-01": 3,
        "2030-01-01": 3,
    }


def test_list_schemes_shows_the_version_in_force_on_the_services_today(open_service: Any) -> None:
    name = fresh_scheme("it")

    async def scenario() -> list[Any]:
        async with open_service(today=date(2026, 2, 1)) as service:
            await service.create_draft(name, seeded_document("scheme_alpha"), principal=ANALYST)
            await service.create_draft(name, seeded_document("scheme_alpha", max_income=1), principal=ANALYST)
            await service.publish(name, 1, effective_from=date(2026, 1, 1), principal=ADMIN)
            await service.publish(name, 2, effective_from=date(2026, 6, 1), principal=ADMIN)
            return [summary for summary in await service.list_schemes() if summary.scheme_name == name]

    (summary,) = asyncio.run(scenario())
    assert summary.current is not None and summary.current.version == 1


def test_refusals_change_nothing(open_service: Any, scheme_engine: sa.Engine) -> None:
    name = fresh_scheme("it")

    async def scenario() -> None:
        async with open_service() as service:
            with pytest.raises(DocumentError):
                await service.create_draft(name, {"description": "no criteria"}, principal=ANALYST)
            with pytest.raises(InputValidationError):
                await service.create_draft("Bad Name", seeded_document("scheme_alpha"), principal=ANALYST)
            with pytest.raises(SchemeNotFoundError):
                await service.versions(name)
            await service.create_draft(name, seeded_document("scheme_alpha"), principal=ADMIN)
            with pytest.raises(PermissionDeniedError):
                await service.publish(name, 1, effective_from=date(2026, 1, 1), principal=ADMIN)
            with pytest.raises(SchemeNotFoundError):
                await service.publish(name, 2, effective_from=date(2026, 1, 1), principal=ADMIN)
            await service.create_draft(name, seeded_document("scheme_alpha", max_income=5), principal=ANALYST)
            await service.publish(name, 2, effective_from=date(2026, 5, 1), principal=ADMIN)
            with pytest.raises(SchemeVersionConflictError):
                await service.publish(name, 2, effective_from=date(2026, 6, 1), principal=ADMIN)
            version = await service.version(name, 2)
            assert version.effective_from == date(2026, 5, 1)
            assert [v.status for v in await service.versions(name)] == ["draft", "published"]

    asyncio.run(scenario())


def test_each_change_is_one_audit_entry_keyed_by_the_version(open_service: Any, owner: sa.Engine) -> None:
    name = fresh_scheme("it")
    document = seeded_document("scheme_alpha", max_income=222222)

    async def scenario() -> None:
        async with open_service() as service:
            await service.create_draft(name, document, principal=ANALYST)
            await service.publish(name, 1, effective_from=date(2026, 1, 1), principal=ADMIN)

    asyncio.run(scenario())

    with owner.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT step_name, actor, output_json FROM audit.audit_trail WHERE instance_id = :id ORDER BY seq"),
            {"id": audit_instance_id(name, 1)},
        ).all()
    assert [(row.step_name, row.actor) for row in rows] == [
        ("create_scheme_version", "analyst-7"),
        ("publish_scheme_version", "admin-7"),
    ]
    assert all(rule_hash(document) in row.output_json for row in rows)
