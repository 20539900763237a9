"""Asynchronous runs through REST: 202 at once, progress on GET, and Server-Sent Events until the run ends."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from tests.support.rest_api import RestApi

IMPACT = {"scheme_name": "scheme_beta", "population_size": 20_000, "proposed_rules": {"min_age": 25}}


def _start(api: RestApi, template_id: str, inputs: dict[str, Any]) -> dict[str, Any]:
    response = api.post("/workflows/execute", json={"template_id": template_id, "inputs": inputs, "mode": "async"})
    assert response.status_code == 202, response.text
    return dict(response.json())


def _events(api: RestApi, instance_id: str) -> list[dict[str, Any]]:
    with api.stream("GET", f"/workflows/{instance_id}/events") as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = list(response.iter_lines())
    assert not [line for line in lines if line.startswith("event:")], lines  # no error event
    return [json.loads(line.removeprefix("data: ")) for line in lines if line.startswith("data: ")]


def test_async_execute_answers_202_running_at_once(analyst_api: RestApi) -> None:
    accepted = _start(analyst_api, "impact_analysis", IMPACT)
    assert set(accepted) == {"instance_id", "status"}
    assert accepted["status"] == "running"
    assert analyst_api.instance(accepted["instance_id"])["progress"]["steps_total"] == 6


def test_events_stream_every_change_until_the_run_ends(analyst_api: RestApi) -> None:
    instance_id = _start(analyst_api, "impact_analysis", IMPACT)["instance_id"]

    snapshots = _events(analyst_api, instance_id)

    assert snapshots[-1]["status"] == "completed"
    assert all(snapshot["status"] == "running" for snapshot in snapshots[:-1])
    progress = [snapshot["progress"] for snapshot in snapshots]
    steps = [p["steps_completed"] for p in progress]
    items = [p["items_done"] for p in progress]
    assert steps == sorted(steps) and items == sorted(items)
    assert progress[-1] == {"steps_completed": 6, "steps_total": 6, "items_done": 20_000, "items_total": 20_000}
    assert any(0 < p["items_done"] < 20_000 for p in progress), "no progress was reported inside the fan-out step"
    # Each event is the instance as GET shows it; the last one is the finished run itself.
    assert snapshots[-1] == analyst_api.instance(instance_id)


def test_events_of_a_finished_run_are_its_one_final_snapshot(api: RestApi) -> None:
    run = api.check_eligibility("CIT-0000003", "scheme_alpha")
    snapshots = _events(api, run["instance_id"])
    assert len(snapshots) == 1 and snapshots[0]["status"] == "completed"
    assert snapshots[0]["progress"] == {"steps_completed": 4, "steps_total": 4, "items_done": 0, "items_total": 0}


def test_events_of_an_unknown_instance_are_404(api: RestApi) -> None:
    error = api.error(api.get(f"/workflows/{uuid.uuid4()}/events"), 404)
    assert error["code"] == "NOT_FOUND"


def test_an_unknown_mode_is_422(api: RestApi, count_instances: Callable[[], int]) -> None:
    before = count_instances()
    response = api.post(
        "/workflows/execute",
        json={
            "template_id": "eligibility_check",
            "inputs": {"citizen_id": "CIT-1", "scheme_name": "scheme_alpha"},
            "mode": "later",
        },
    )
    error = api.error(response, 422)
    assert error["details"][0]["field"] == "body.mode"
    assert count_instances() == before


def test_async_inputs_are_validated_like_sync_ones_and_create_nothing(
    analyst_api: RestApi, count_instances: Callable[[], int]
) -> None:
    before = count_instances()
    response = analyst_api.post(
        "/workflows/execute",
        json={"template_id": "impact_analysis", "inputs": {"population_size": 0}, "mode": "async"},
    )
    error = analyst_api.error(response, 422)
    assert {problem["field"] for problem in error["details"]} == {"inputs", "inputs.population_size"}
    assert count_instances() == before
