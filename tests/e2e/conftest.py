"""Fixtures of the end-to-end tests: the REST API of the real stack as each role calls it, and its database."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from civicflow.auth.principals import Role
from tests.support.cli_runs import RunCommand, command_runner
from tests.support.credentials import Credentials
from tests.support.rest_api import RestApi


@pytest.fixture(scope="session")
def api(gateway_client: TestClient, credentials: Credentials) -> RestApi:
    """The API as a caseworker calls it: eligibility checks and appeals, and reading those runs."""
    return RestApi.acting_as(gateway_client, credentials, Role.CASEWORKER)


@pytest.fixture(scope="session")
def analyst_api(api: RestApi) -> RestApi:
    """As an analyst: impact analyses, their reports and results."""
    return api.as_role(Role.ANALYST)


@pytest.fixture(scope="session")
def auditor_api(api: RestApi) -> RestApi:
    """As an auditor: every /audit route, and reading any run."""
    return api.as_role(Role.AUDITOR)


@pytest.fixture(scope="session")
def admin_api(api: RestApi) -> RestApi:
    """As an admin, for the tests that run and read more than one role's workflows."""
    return api.as_role(Role.ADMIN)


@pytest.fixture(scope="session")
def count_instances(owner: sa.Engine, gateway_client: TestClient) -> Callable[[], int]:
    """How many workflow instances the orchestrator has stored: proves a refused request created none."""

    def count() -> int:
        with owner.connect() as connection:
            return int(connection.execute(sa.text("SELECT count(*) FROM orchestrator.workflow_instances")).scalar_one())

    return count


@pytest.fixture(scope="module")
def civicflow(gateway_client: TestClient, credentials: Credentials) -> RunCommand:
    """Runs one `civicflow` command line in-process against the real app; returns its exit status and output."""
    return command_runner(gateway_client, credentials)
