"""Fixtures of the audit service's integration tests: a log of a module's own, for tests that count it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from audit_service.config import AuditSettings
from tests.support.background_loop import BackgroundLoop
from tests.support.databases import SetUpDatabase, set_up_database
from tests.support.stacks import audit_service_on


@pytest.fixture(scope="module")
def own_log_database(postgres_server_url: str) -> Iterator[SetUpDatabase]:
    """A database for this module alone. The session's log also takes the appends of other modules' orchestrators,
    which run in the background (a review sweep auditing an escalation): a test that asserts on seqs or the log's
    size must count a log that nothing else writes to."""
    with set_up_database(postgres_server_url, name_prefix="civicflow_own_log") as database:
        yield database


@pytest.fixture(scope="module")
def own_audit_target(
    background_loop: BackgroundLoop, audit_settings: AuditSettings, own_log_database: SetUpDatabase
) -> Iterator[str]:
    """Address of an audit service serving the module's own log."""
    with audit_service_on(background_loop, audit_settings, own_log_database) as target:
        yield target
