"""A thin client of the REST contract for the end-to-end tests: each call carries a person's bearer token, and each
helper asserts the status it expects."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx2
from fastapi.testclient import TestClient

from civicflow.auth.principals import Role
from tests.support.credentials import Credentials, authorization


@dataclass(frozen=True)
class RestApi:
    client: TestClient
    credentials: Credentials
    # The bearer token every request carries; None sends none.
    token: str | None

    @classmethod
    def acting_as(cls, client: TestClient, credentials: Credentials, role: Role) -> RestApi:
        return cls(client, credentials, credentials.token(role))

    def as_role(self, role: Role) -> RestApi:
        """The same API, called by the tests' usual person of `role`."""
        return dataclasses.replace(self, token=self.credentials.token(role))

    def with_token(self, token: str | None) -> RestApi:
        return dataclasses.replace(self, token=token)

    def headers(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**(authorization(self.token) if self.token else {}), **(extra or {})}

    def get(self, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx2.Response:
        return self.client.get(path, headers=self.headers(headers), **kwargs)

    def post(self, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx2.Response:
        return self.client.post(path, headers=self.headers(headers), **kwargs)

    @contextmanager
    def stream(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> Iterator[httpx2.Response]:
        with self.client.stream(method, path, headers=self.headers(headers), **kwargs) as response:
            yield response

    def execute(self, template_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
        response = self.post("/workflows/execute", json={"template_id": template_id, "inputs": inputs})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def check_eligibility(self, citizen_id: str, scheme_name: str) -> dict[str, Any]:
        run = self.execute("eligibility_check", {"citizen_id": citizen_id, "scheme_name": scheme_name})
        assert run["status"] == "completed", run
        return run

    def instance(self, instance_id: str) -> dict[str, Any]:
        response = self.get(f"/workflows/{instance_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def audit(self, instance_id: str) -> list[dict[str, Any]]:
        response = self.get(f"/workflows/{instance_id}/audit")
        assert response.status_code == 200, response.text
        return list(response.json())

    def appeal(self, original_instance_id: str, new_data: dict[str, Any]) -> dict[str, Any]:
        response = self.post(
            "/workflows/appeal", json={"original_instance_id": original_instance_id, "new_data": new_data}
        )
        assert response.status_code == 200, response.text
        return dict(response.json())

    def error(self, response: Any, status: int) -> dict[str, Any]:
        """The error object of a response that must have failed with `status`."""
        assert response.status_code == status, response.text
        body = response.json()
        assert set(body) == {"error"}
        assert body["error"]["status"] == status
        return dict(body["error"])
