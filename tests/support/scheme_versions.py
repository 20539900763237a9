"""New scheme versions for the end-to-end tests, made through the REST API as an analyst drafts and an admin publishes.

Tests that publish use a scheme of their own (`fresh_scheme`): the stack is shared by the whole
session, and a version published of a seeded scheme would change every later test's decisions.
"""

from __future__ import annotations

import uuid
from typing import Any

from civicflow.auth.principals import Role
from tests.support.rest_api import RestApi

# Publishing needs an admin who did not draft the version (four eyes); drafts here are an analyst's.
PUBLISHER = "second-admin"


def fresh_scheme(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def draft(api: RestApi, scheme_name: str, document: dict[str, Any]) -> int:
    """A new draft version of the scheme (creating the scheme if it is new), by an analyst: its number."""
    response = api.as_role(Role.ANALYST).post(f"/schemes/{scheme_name}/versions", json=document)
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "draft"
    return int(response.json()["version"])


def publish(api: RestApi, scheme_name: str, version: int, effective_from: str) -> None:
    publisher = api.with_token(api.credentials.issue(PUBLISHER, Role.ADMIN))
    response = publisher.post(
        f"/schemes/{scheme_name}/versions/{version}/publish", json={"effective_from": effective_from}
    )
    assert response.status_code == 200, response.text


def published(api: RestApi, scheme_name: str, document: dict[str, Any], effective_from: str) -> int:
    """A new version of the scheme, drafted and published from `effective_from`: its number."""
    version = draft(api, scheme_name, document)
    publish(api, scheme_name, version, effective_from)
    return version
