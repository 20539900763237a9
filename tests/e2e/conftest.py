"""Fixtures of the end-to-end tests: the REST API of the real stack, and a look into its database."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from tests.support.rest_api import RestApi


@pytest.fixture(scope="session")
def api(gateway_client: TestClient) -> RestApi:
    return RestApi(gateway_client)


@pytest.fixture(scope="session")
def count_instances(owner: sa.Engine, gateway_client: TestClient) -> Callable[[], int]:
    """How many workflow instances the orchestrator has stored: proves a refused request created none."""

    def count() -> int:
        with owner.connect() as connection:
            return int(connection.execute(sa.text("SELECT count(*) FROM orchestrator.workflow_instances")).scalar_one())

    return count
