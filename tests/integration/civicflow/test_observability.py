"""The whole system as `make run` starts it, after a known set of runs: each service's metrics port counts them
exactly, one trace id spans the four processes (exported over OTLP to a receiver of the test's), and the log
lines of a run carry its instance id and that trace id."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
import pytest

from civicflow.launch.local_database import scratch_database
from civicflow.launch.settings import free_port_environment
from civicflow.settings import REPO_ROOT
from tests.support.databases import launcher_roles
from tests.support.eligibility_oracle import citizens_decided
from tests.support.local_system import gateway_url, issued_token, wait_until_healthy
from tests.support.otlp_receiver import OtlpReceiver, otlp_receiver
from tests.support.process_tree import descendants, is_alive
from tests.support.scraped_metrics import scrape, scraped_until

FAILING_CITIZEN = "CIT-0000099"
REVIEWED_CITIZEN, CANCELLED_CITIZEN = citizens_decided("NEEDS_REVIEW", "scheme_alpha", count=2, start=500)
ELIGIBILITY = "eligibility_check"
APPLICATION = "benefit_application"


@dataclass
class System:
    process: subprocess.Popen[bytes]
    environment: dict[str, str]
    log: Path
    traces: OtlpReceiver

    @property
    def url(self) -> str:
        return gateway_url(self.environment)

    def metrics_port(self, service: str) -> int:
        return int(self.environment[f"{service.upper()}_METRICS_PORT"])

    def headers(self, role: str, subject: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {issued_token(self.environment, subject=subject, role=role)}"}

    def log_lines(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.log.read_text(errors="replace").splitlines():
            _, _, text = line.partition("| ")
            if text.startswith("{"):
                lines.append(json.loads(text))
        return lines


@pytest.fixture(scope="module")
def system(postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    """The launcher with tracing on, an evaluator that fails one citizen, and a review sweep every 0.2 s."""
    tmp_path = tmp_path_factory.mktemp("observed")
    with (
        scratch_database(postgres_server_url, prefix="civicflow_observed") as url,
        launcher_roles(url, tmp_path / "database-passwords.json") as database,
        otlp_receiver() as traces,
    ):
        environment = {
            **os.environ,
            **free_port_environment(),
            **database,
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
            "AUDIT_SIGNING_KEY_PATH": str(tmp_path / "audit-signing-key.pem"),
            "TLS_DIR": str(tmp_path / "tls"),
            "TOKEN_ISSUER_KEY_PATH": str(tmp_path / "token-issuer-key.pem"),
            "EVALUATOR_FAIL_CITIZENS": FAILING_CITIZEN,
            "REVIEW_SWEEP_SECONDS": "0.2",
            "OTEL_EXPORTER_OTLP_ENDPOINT": traces.endpoint,
            "OTEL_EXPORTER_OTLP_INSECURE": "true",
            "OTEL_BSP_SCHEDULE_DELAY": "100",
        }
        log = tmp_path / "launcher.log"
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", "civicflow.launch"],
                cwd=REPO_ROOT,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        running = System(process=process, environment=environment, log=log, traces=traces)
        try:
            wait_until_healthy(running.url, alive=lambda: process.poll() is None, describe=lambda: log.read_text())
            yield running
        finally:
            started = descendants(process.pid)
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
            for pid in started:
                if is_alive(pid):
                    os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def runs(system: System) -> dict[str, dict[str, Any]]:
    """Three eligibility checks that complete, one the evaluator fails, an application decided by a person, and
    one its applicant cancels while it waits."""
    caseworker = system.headers("caseworker", "carol")
    # Not the one who applied: four eyes.
    reviewer = system.headers("caseworker", "rhea")
    done: dict[str, dict[str, Any]] = {}
    with httpx2.Client(base_url=system.url, headers=caseworker, timeout=60.0) as client:
        for citizen in ("CIT-0000001", "CIT-0000002", "CIT-0000003", FAILING_CITIZEN):
            inputs = {"citizen_id": citizen, "scheme_name": "scheme_alpha"}
            response = client.post("/workflows/execute", json={"template_id": ELIGIBILITY, "inputs": inputs})
            assert response.status_code == 200, response.text
            done[citizen] = response.json()
        inputs = {"citizen_id": REVIEWED_CITIZEN, "scheme_name": "scheme_alpha"}
        waiting = client.post("/workflows/execute", json={"template_id": APPLICATION, "inputs": inputs}).json()
        assert waiting["status"] == "waiting", waiting
        # The sweep counts the task as open before anyone claims it.
        scraped_until(
            system.metrics_port("orchestrator"),
            lambda scraped: scraped.value("civicflow_review_tasks_open", scheme="scheme_alpha") == 1,
        )
        tasks = client.get("/reviews").json()["items"]
        (task,) = [task for task in tasks if task["instance_id"] == waiting["instance_id"]]
        claimed = client.post(f"/reviews/{task['review_task_id']}/claim", headers=reviewer)
        assert claimed.status_code == 200, claimed.text
        decision = {"decision": "ELIGIBLE", "justification": "Income evidence checked against the payslips on file."}
        decided = client.post(f"/reviews/{task['review_task_id']}/decide", json=decision, headers=reviewer)
        assert decided.status_code == 200, decided.text
        done[REVIEWED_CITIZEN] = waiting
        inputs = {"citizen_id": CANCELLED_CITIZEN, "scheme_name": "scheme_alpha"}
        withdrawn = client.post("/workflows/execute", json={"template_id": APPLICATION, "inputs": inputs}).json()
        assert withdrawn["status"] == "waiting", withdrawn
        cancelled = client.post(f"/workflows/{withdrawn['instance_id']}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        done[CANCELLED_CITIZEN] = cancelled.json()
    assert [done[citizen]["status"] for citizen in list(done)[:4]] == ["completed"] * 3 + ["failed"]
    return done


def test_the_orchestrator_counts_every_run_and_step_by_template_and_outcome(
    system: System, runs: dict[str, dict[str, Any]]
) -> None:
    metrics = scraped_until(
        system.metrics_port("orchestrator"),
        lambda scraped: (
            scraped.value("civicflow_runs_finished_total", template=APPLICATION, status="completed") == 1
            and scraped.value("civicflow_review_tasks_open", scheme="scheme_alpha") == 0
        ),
    )
    assert metrics.value("civicflow_runs_started_total", template=ELIGIBILITY) == 4
    assert metrics.value("civicflow_runs_started_total", template=APPLICATION) == 2
    assert metrics.value("civicflow_runs_finished_total", template=APPLICATION, status="cancelled") == 1
    assert metrics.value("civicflow_runs_finished_total", template=ELIGIBILITY, status="completed") == 3
    assert metrics.value("civicflow_runs_finished_total", template=ELIGIBILITY, status="failed") == 1
    assert metrics.value("civicflow_run_duration_seconds_count", template=ELIGIBILITY, status="completed") == 3
    assert metrics.value("civicflow_run_duration_seconds_count", template=ELIGIBILITY, status="failed") == 1
    # Every check fetched its citizen and rules; the evaluator answered three and failed one: the task refused it
    # (`failed`, which its policy does not retry).
    for step in ("fetch_citizen", "fetch_scheme_rules"):
        assert metrics.value("civicflow_step_attempts_total", template=ELIGIBILITY, step=step, outcome="succeeded") == 4
    evaluated = {
        dict(labels)["outcome"]: metrics.value("civicflow_step_attempts_total", **dict(labels))
        for labels in metrics.label_sets("civicflow_step_attempts_total")
        if dict(labels)["template"] == ELIGIBILITY and dict(labels)["step"] == "evaluate_rules"
    }
    assert evaluated == {"succeeded": 3, "failed": 1}
    assert (
        metrics.value(
            "civicflow_step_attempt_seconds_count", template=ELIGIBILITY, step="make_decision", outcome="succeeded"
        )
        == 3
    )
    # The review: claimed once and decided once; no task open or overdue any more.
    assert metrics.value("civicflow_review_time_to_claim_seconds_count", scheme="scheme_alpha") == 1
    assert metrics.value("civicflow_review_time_to_decide_seconds_count", scheme="scheme_alpha") == 1
    assert metrics.value("civicflow_review_tasks_overdue", scheme="scheme_alpha") == 0
    # Nothing was taken over.
    assert metrics.value("civicflow_run_leases_expired_total") == 0
    assert metrics.value("civicflow_runs_recovered_total", template=ELIGIBILITY) == 0
    # Six runs started; every ExecuteWorkflow answered OK (a failed run is an answer, not an error).
    assert (
        metrics.value(
            "civicflow_grpc_server_handled_total",
            grpc_method="/civicflow.v1.OrchestratorService/ExecuteWorkflow",
            grpc_code="OK",
        )
        == 6
    )


def test_the_evaluator_counts_rows_and_each_rpc_by_status_code(system: System, runs: dict[str, dict[str, Any]]) -> None:
    metrics = scrape(system.metrics_port("evaluator"))
    method = "/civicflow.v1.EvaluatorService/Evaluate"
    # Six citizens evaluated: the fault hook fails the answer of one after its evaluation (evaluator/faults.py).
    assert metrics.value("civicflow_evaluator_rows_total", rpc="Evaluate") == 6
    assert metrics.value("civicflow_grpc_server_handled_total", grpc_method=method, grpc_code="OK") == 5
    assert metrics.value("civicflow_grpc_server_handled_total", grpc_method=method, grpc_code="INTERNAL") == 1
    assert metrics.value("civicflow_grpc_server_handling_seconds_count", grpc_method=method) == 6


def test_the_audit_service_counts_what_it_appended_and_the_log_size(
    system: System, runs: dict[str, dict[str, Any]]
) -> None:
    metrics = scrape(system.metrics_port("audit"))
    appended = metrics.value("civicflow_audit_entries_appended_total")
    assert appended > 0
    # Every entry of this log was appended by this process: the log is as long as what it appended.
    assert metrics.value("civicflow_audit_log_entries") == appended
    assert metrics.value("civicflow_audit_append_seconds_count") > 0


def test_the_gateway_counts_requests_by_route_template_and_status(
    system: System, runs: dict[str, dict[str, Any]]
) -> None:
    metrics = scrape(system.metrics_port("gateway"))
    assert metrics.value("civicflow_http_requests_total", method="POST", route="/workflows/execute", status="200") == 6
    assert (
        metrics.value(
            "civicflow_http_requests_total", method="POST", route="/workflows/{instance_id}/cancel", status="200"
        )
        == 1
    )
    assert (
        metrics.value(
            "civicflow_http_requests_total", method="POST", route="/reviews/{review_task_id}/claim", status="200"
        )
        == 1
    )
    # No label holds an id: routes are templates.
    routes = {dict(labels)["route"] for labels in metrics.label_sets("civicflow_http_requests_total")}
    assert all("CIT-" not in route and "-" not in route.replace("_", "") for route in routes), routes


def test_one_trace_id_spans_all_four_processes_and_the_runs_log_lines_carry_it(
    system: System, runs: dict[str, dict[str, Any]]
) -> None:
    instance_id = runs["CIT-0000001"]["instance_id"]
    lines = [line for line in system.log_lines() if line.get("instance_id") == instance_id]
    assert lines, "no log line names the run"
    assert all("trace_id" in line for line in lines), [line for line in lines if "trace_id" not in line]
    (trace_id,) = {line["trace_id"] for line in lines}

    def services_in_trace() -> set[str]:
        return {span.service for span in system.traces.received() if span.trace_id == trace_id}

    deadline = time.monotonic() + 20
    while services_in_trace() != {"gateway", "orchestrator", "evaluator", "audit_service"}:
        assert time.monotonic() < deadline, services_in_trace()
        time.sleep(0.1)
