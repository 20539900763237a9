"""A thin client of the REST contract for the end-to-end tests: each call asserts the status it expects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient


@dataclass(frozen=True)
class RestApi:
    client: TestClient

    def execute(self, template_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post("/workflows/execute", json={"template_id": template_id, "inputs": inputs})
        assert response.status_code == 200, response.text
        return dict(response.json())

    def check_eligibility(self, citizen_id: str, scheme_name: str) -> dict[str, Any]:
        run = self.execute("eligibility_check", {"citizen_id": citizen_id, "scheme_name": scheme_name})
        assert run["status"] == "completed", run
        return run

    def instance(self, instance_id: str) -> dict[str, Any]:
        response = self.client.get(f"/workflows/{instance_id}")
        assert response.status_code == 200, response.text
        return dict(response.json())

    def audit(self, instance_id: str) -> list[dict[str, Any]]:
        response = self.client.get(f"/workflows/{instance_id}/audit")
        assert response.status_code == 200, response.text
        return list(response.json())

    def appeal(self, original_instance_id: str, new_data: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post(
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
