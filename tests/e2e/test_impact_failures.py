"""12 of 500 evaluations fail for good: with no tolerance the run fails, naming them; with 5 % it lists them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.settings import REPO_ROOT
from gateway.config import GatewaySettings
from orchestrator.config import OrchestratorSettings
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials
from tests.support.eligibility_oracle import reference_transitions
from tests.support.rest_api import RestApi

POPULATION = 500
FAILING = [7, 42, 77, 128, 199, 250, 251, 252, 333, 404, 450, 500]
SCHEME = {"min_age": 18, "max_age": 60, "max_income": 250000}  # scheme_alpha
INPUTS = {"scheme_name": "scheme_alpha", "population_size": POPULATION}
# Small batches, so that the failures are spread over several batches and streams.
CONFIG = {"batch_size": 64, "streams": 3, "window": 2}
POLICIES = {
    "impact_strict": {},
    "impact_tolerant": {"tolerated_failures": 0.05},
    "impact_retrying": {
        "retry": {"max_attempts": 3, "initial_backoff_seconds": 0.01, "retryable": ["failed"]},
    },
}


def _templates(directory: Path) -> Path:
    """impact_analysis under each policy of its evaluate_population step, as template files."""
    base = json.loads((REPO_ROOT / "templates" / "impact_analysis.json").read_text())
    for template_id, policy in POLICIES.items():
        template = {**base, "template_id": template_id}
        template["steps"] = [
            {**step, "config": CONFIG, **policy} if step["name"] == "evaluate_population" else step
            for step in base["steps"]
        ]
        (directory / f"{template_id}.json").write_text(json.dumps(template))
    return directory


def _system(
    background_loop: BackgroundLoop,
    tmp_path: Path,
    settings: OrchestratorSettings,
    gateway_settings: GatewaySettings,
    credentials: Credentials,
    *,
    fault_times: int,
) -> Iterator[RestApi]:
    """An evaluator failing the FAILING citizens, and an orchestrator and gateway in front of it."""
    from evaluator.config import EvaluatorSettings
    from evaluator.server import start as start_evaluator
    from gateway.app import create_app
    from orchestrator.server import start as start_orchestrator

    failing = EvaluatorSettings(
        host="127.0.0.1",
        evaluator_port=0,
        evaluator_fail_citizens=frozenset(f"CIT-{position:07d}" for position in FAILING),
        evaluator_fault_times=fault_times,
        **credentials.tls_settings(ServiceIdentity.EVALUATOR),
    )
    with serve_on_loopback(background_loop, start_evaluator(failing)) as evaluator_target:
        orchestrator = settings.model_copy(
            update={"evaluator_target": evaluator_target, "templates_dir": _templates(tmp_path)}
        )
        with serve_on_loopback(background_loop, start_orchestrator(orchestrator)) as orchestrator_target:
            gateway = gateway_settings.model_copy(
                update={"orchestrator_target": orchestrator_target, "evaluator_target": evaluator_target}
            )
            with TestClient(create_app(gateway)) as client:
                # The templates are impact_analysis under other names, with its allowed roles.
                yield RestApi.acting_as(client, credentials, Role.ANALYST)


@pytest.fixture(scope="module")
def always_failing(
    background_loop: BackgroundLoop,
    tmp_path_factory: pytest.TempPathFactory,
    orchestrator_settings: OrchestratorSettings,
    gateway_settings: GatewaySettings,
    credentials: Credentials,
) -> Iterator[RestApi]:
    templates = tmp_path_factory.mktemp("templates")
    yield from _system(background_loop, templates, orchestrator_settings, gateway_settings, credentials, fault_times=0)


@pytest.fixture(scope="module")
def failing_once(
    background_loop: BackgroundLoop,
    tmp_path_factory: pytest.TempPathFactory,
    orchestrator_settings: OrchestratorSettings,
    gateway_settings: GatewaySettings,
    credentials: Credentials,
) -> Iterator[RestApi]:
    templates = tmp_path_factory.mktemp("templates")
    yield from _system(background_loop, templates, orchestrator_settings, gateway_settings, credentials, fault_times=1)


def test_without_tolerance_the_run_fails_and_names_the_failed_citizens(always_failing: RestApi) -> None:
    run = always_failing.execute("impact_strict", INPUTS)

    assert run["status"] == "failed"
    error = run["error"]
    assert error.startswith("step 'evaluate_population' failed: ")
    assert "citizens failed evaluation, more than the 0 of 500 tolerated (tolerated_failures 0)" in error
    # Batches are evaluated concurrently: the run fails at the first failures reported, whichever batch's they are.
    named = [
        f"CIT-{p:07d}" for p in FAILING if f"CIT-{p:07d}: injected fault: evaluation of CIT-{p:07d} failed" in error
    ]
    assert named, error
    audit = always_failing.audit(run["instance_id"])
    assert [(entry["step_name"], entry["status"]) for entry in audit][-1] == ("evaluate_population", "failed")
    assert "tolerated" in audit[-1]["error"]
    report = always_failing.get(f"/workflows/report/{run['instance_id']}")
    assert report.status_code == 409


def test_with_five_percent_tolerated_the_run_completes_and_lists_the_twelve(always_failing: RestApi) -> None:
    run = always_failing.execute("impact_tolerant", INPUTS)

    assert run["status"] == "completed", run["error"]
    report = always_failing.get(f"/workflows/report/{run['instance_id']}").json()
    assert report["failed"] == 12
    assert [(f["position"], f["citizen_id"]) for f in report["failures"]] == [
        (position, f"CIT-{position:07d}") for position in FAILING
    ]
    assert all(f["error"].startswith("injected fault") for f in report["failures"])
    # The failed citizens are in no count; everyone else is counted exactly as a direct evaluation counts them.
    assert report["total"] == POPULATION
    assert report["eligible"] + report["not_eligible"] + report["needs_review"] == POPULATION - 12
    counted = {(t["from"], t["to"]): t["count"] for t in report["transitions"]}
    assert sum(counted.values()) == POPULATION - 12
    assert counted == reference_transitions(POPULATION, SCHEME, SCHEME, skip=FAILING)
    assert report == run["outputs"]["impact_report"]


def test_results_pages_skip_the_failed_citizens_and_reach_everyone_else(always_failing: RestApi) -> None:
    run = always_failing.execute("impact_tolerant", INPUTS)
    positions: list[int] = []
    offset = 0
    while offset < POPULATION:
        page = always_failing.get(f"/workflows/report/{run['instance_id']}/results?offset={offset}&limit=100")
        assert page.status_code == 200, page.text
        positions += [result["position"] for result in page.json()["results"]]
        offset = page.json()["next_offset"]

    assert positions == [p for p in range(1, POPULATION + 1) if p not in FAILING]


def test_citizens_that_fail_once_are_retried_and_the_run_completes_without_failures(failing_once: RestApi) -> None:
    retried = failing_once.execute("impact_retrying", INPUTS)
    clean = failing_once.execute("impact_retrying", INPUTS)  # the faults have spent themselves

    assert retried["status"] == "completed", retried["error"]
    first, second = retried["outputs"]["impact_report"], clean["outputs"]["impact_report"]
    assert first["failed"] == 0 and first["failures"] == []
    del first["instance_id"], second["instance_id"]
    assert first == second
