"""Fixtures of the orchestrator's integration tests: a database of a test's own, with the orchestrator's tables."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from civicflow.database import create_engine
from civicflow.launch.local_database import scratch_database
from tests.support.impact_results import migrate


@pytest.fixture
def orchestrator_database(postgres_server_url: str) -> Iterator[str]:
    """A migrated database for this test alone: no replica of the session claims the runs made in it."""
    with scratch_database(postgres_server_url, prefix="civicflow_orchestrator") as url:
        engine = sa.create_engine(url)
        try:
            migrate(engine)
        finally:
            engine.dispose()
        yield url


@pytest.fixture
def statements(orchestrator_database: str) -> Iterator[Engine]:
    """An autocommit engine on it, as the orchestrator's stores use (storage/statements.py)."""
    engine = create_engine(orchestrator_database, application_name="civicflow-tests", autocommit=True)
    yield engine
    engine.dispose()
