"""fetch_scheme_rules on a real database: the rules a run decides under, and each way of finding none."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime
from typing import Any

import pytest

from civicflow.rules.document import rule_hash
from orchestrator.errors import StepFailedError
from orchestrator.tasks.contract import TaskContext
from orchestrator.tasks.scheme_rules import SchemeRulesConfig, fetch_scheme_rules
from tests.integration.orchestrator.schemes.conftest import ADMIN, ANALYST
from tests.support.scheme_versions import fresh_scheme
from tests.support.seeded_schemes import seeded_document

CONTEXT = TaskContext(instance_id=uuid.uuid4(), call_timeout=5)
PUBLISHED_ONLY = SchemeRulesConfig()
DRAFTS = SchemeRulesConfig(drafts=True)


@pytest.fixture
def scheme(open_service: Any) -> str:
    """Version 1 published from 2026-01-01, version 2 published from 2026-07-01, version 3 a draft."""
    name = fresh_scheme("it")

    async def make() -> None:
        async with open_service() as service:
            for income in (100000, 200000, 300000):
                await service.create_draft(name, seeded_document("scheme_alpha", max_income=income), principal=ANALYST)
            await service.publish(name, 1, effective_from=date(2026, 1, 1), principal=ADMIN)
            await service.publish(name, 2, effective_from=date(2026, 7, 1), principal=ADMIN)

    asyncio.run(make())
    return name


def fetch(
    open_service: Any,
    inputs: dict[str, Any],
    config: SchemeRulesConfig = PUBLISHED_ONLY,
    context: TaskContext = CONTEXT,
    **service: Any,
) -> Any:
    async def run() -> Any:
        async with open_service(**service) as schemes:
            return await fetch_scheme_rules(inputs, config, context, schemes=schemes)

    return asyncio.run(run())


def test_the_rules_name_the_version_in_force_on_as_of_by_its_hash(open_service: Any, scheme: str) -> None:
    output = fetch(open_service, {"scheme_name": scheme, "as_of": "2026-06-30"})

    document = seeded_document("scheme_alpha", max_income=100000)
    assert output == {
        "rules": {
            "scheme_name": scheme,
            "version": 1,
            "status": "published",
            "effective_from": "2026-01-01",
            "rule_hash": rule_hash(document),
        }
    }
    assert fetch(open_service, {"scheme_name": scheme, "as_of": "2026-07-01"})["rules"]["version"] == 2


def test_as_of_defaults_to_today(open_service: Any, scheme: str) -> None:
    rules = fetch(open_service, {"scheme_name": scheme}, today=date(2026, 3, 3))["rules"]
    assert rules["version"] == 1


def test_a_run_decides_as_of_the_day_it_was_submitted_however_late_the_step_runs(
    open_service: Any, scheme: str
) -> None:
    # Submitted at 23:59 UTC on the last day of version 1, its step running (or resumed) in version 2's days.
    submitted = TaskContext(
        instance_id=uuid.uuid4(), call_timeout=5, run_created_at=datetime(2026, 6, 30, 23, 59, tzinfo=UTC)
    )

    rules = fetch(open_service, {"scheme_name": scheme}, context=submitted, today=date(2026, 7, 2))["rules"]

    assert rules["version"] == 1


def test_a_named_version_is_taken_whatever_the_date(open_service: Any, scheme: str) -> None:
    rules = fetch(open_service, {"scheme_name": scheme, "as_of": "2026-01-01", "scheme_version": 2})["rules"]
    assert rules["version"] == 2 and rules["effective_from"] == "2026-07-01"


def test_a_draft_only_where_the_step_allows_drafts(open_service: Any, scheme: str) -> None:
    with pytest.raises(StepFailedError, match="version 3 is a draft"):
        fetch(open_service, {"scheme_name": scheme, "scheme_version": 3})
    rules = fetch(open_service, {"scheme_name": scheme, "scheme_version": 3}, DRAFTS)["rules"]
    assert rules["status"] == "draft" and rules["effective_from"] is None and rules["version"] == 3


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({"scheme_name": "no_such_scheme"}, r"unknown scheme 'no_such_scheme' \(known schemes: .*{scheme}"),
        ({"as_of": "2025-12-31"}, r"no version of scheme '{scheme}' is in force on 2025-12-31"),
        ({"scheme_version": 9}, r"scheme '{scheme}' has no version 9"),
        ({"scheme_version": 0}, r"scheme '{scheme}' has no version 0"),
        ({"scheme_version": "1"}, r"scheme '{scheme}' has no version '1'"),
        ({"as_of": "31/12/2026"}, r"as_of '31/12/2026' is not a date"),
    ],
)
def test_each_way_of_finding_no_rules_fails_the_step_saying_why(
    open_service: Any, scheme: str, inputs: dict[str, Any], message: str
) -> None:
    with pytest.raises(StepFailedError, match=message.format(scheme=scheme)):
        fetch(open_service, {"scheme_name": scheme, **inputs})
