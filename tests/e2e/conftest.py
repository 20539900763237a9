"""Fixtures of the end-to-end tests: the REST API of the real stack, and a look into its database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from tests.e2e.rest_api import RestApi


@pytest.fixture(scope="session")
def api(gateway_client: Any) -> RestApi:
    return RestApi(gateway_client)


@pytest.fixture(scope="session")
def count_instances(database_url: str, gateway_client: Any) -> Iterator[Callable[[], int]]:
    """How many workflow instances the orchestrator has stored: proves a refused request created none."""
    engine = sa.create_engine(database_url)
    with engine.connect() as connection:
        schema = connection.execute(
            sa.text("SELECT table_schema FROM information_schema.tables WHERE table_name = 'workflow_instances'")
        ).scalar_one()
    table = f'"{schema}".workflow_instances'

    def count() -> int:
        with engine.connect() as connection:
            return int(connection.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())

    yield count
    engine.dispose()
