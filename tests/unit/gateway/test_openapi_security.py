"""The OpenAPI document of the real app says who needs a token: one HTTP bearer scheme (Swagger UI's Authorize
button at /docs), required by every operation but the published ones, each of which documents its 401 and 403."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from civicflow.auth.access import ServiceIdentity
from gateway.app import create_app
from gateway.auth import PUBLIC_PATHS
from gateway.config import GatewaySettings
from tests.support.credentials import Credentials

# Nothing listens on port 1: the document and the pages need no service behind the app.
UNREACHABLE = "127.0.0.1:1"
# The routes the issue publishes without a token.
PUBLISHED_OPERATIONS = {
    "/",
    "/healthz",
    "/audit/public-key",
    "/audit/public-keys",
    "/audit/checkpoint",
    "/audit/checkpoints",
}
DOCUMENTATION_PAGES = {"/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}


@pytest.fixture(scope="module")
def client(credentials: Credentials) -> Iterator[TestClient]:
    settings = GatewaySettings(
        orchestrator_target=UNREACHABLE,
        evaluator_target=UNREACHABLE,
        audit_target=UNREACHABLE,
        **credentials.service_settings(ServiceIdentity.GATEWAY),
    )
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    return dict(response.json())


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method, operation in item.items():
            yield path, method.upper(), operation


def bearer_schemes(document: dict[str, Any]) -> set[str]:
    schemes = document["components"]["securitySchemes"]
    return {name for name, scheme in schemes.items() if (scheme["type"], scheme["scheme"]) == ("http", "bearer")}


def test_the_document_declares_one_http_bearer_scheme(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert len(schemes) == 1 and len(bearer_schemes(document)) == 1
    (scheme,) = schemes.values()
    assert "civicflow token issue" in scheme["description"]


def test_every_operation_but_the_published_ones_requires_the_bearer_token(document: dict[str, Any]) -> None:
    (scheme,) = bearer_schemes(document)
    for path, method, operation in operations(document):
        if path in PUBLISHED_OPERATIONS:
            assert "security" not in operation, f"{method} {path}"
            assert "401" not in operation["responses"], f"{method} {path}"
        else:
            assert operation.get("security") == [{scheme: []}], f"{method} {path}"
            assert {"401", "403"} <= operation["responses"].keys(), f"{method} {path}"
    assert {path for path, _, _ in operations(document)} >= PUBLISHED_OPERATIONS


def test_the_published_paths_the_gateway_names_are_those_that_need_no_token(document: dict[str, Any]) -> None:
    open_operations = {path for path, _, operation in operations(document) if "security" not in operation}
    assert open_operations == PUBLISHED_OPERATIONS
    assert PUBLIC_PATHS == PUBLISHED_OPERATIONS | DOCUMENTATION_PAGES


def test_the_description_names_every_published_route(document: dict[str, Any]) -> None:
    for path in PUBLISHED_OPERATIONS:
        assert f"`{path}`" in document["info"]["description"], path


def test_the_docs_page_is_swagger_ui_on_this_document(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200
    assert "swagger-ui" in page.text and "/openapi.json" in page.text
