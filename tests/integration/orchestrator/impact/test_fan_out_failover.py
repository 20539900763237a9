"""Failover of the fan-out: a replica killed mid-run, or one that stalls, costs no citizen and counts none twice."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.settings import REPO_ROOT
from civicflow.v1 import orchestrator_pb2, orchestrator_pb2_grpc
from orchestrator.config import OrchestratorSettings
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials
from tests.support.eligibility_oracle import reference_transitions
from tests.support.evaluator_processes import EvaluatorProcess, start_evaluator_process
from tests.support.impact_results import stored_rows
from tests.support.orchestrators import serving

CURRENT = {"min_age": 21, "max_age": 55, "max_income": 180_000}  # scheme_beta
PROPOSED = {"min_age": 25, "max_age": 55, "max_income": 150_000}
LARGE = 400_000


def _orchestrator(
    background_loop: BackgroundLoop, settings: OrchestratorSettings, credentials: Credentials, **update: Any
) -> Iterator[orchestrator_pb2_grpc.OrchestratorServiceStub]:
    """A replica with `update` applied, called by an analyst."""
    with (
        serving(background_loop, settings.model_copy(update=update)) as target,
        credentials.orchestrator_channel(target, role=Role.ANALYST) as channel,
    ):
        yield orchestrator_pb2_grpc.OrchestratorServiceStub(channel)


def _execute(
    stub: orchestrator_pb2_grpc.OrchestratorServiceStub, size: int, template_id: str = "impact_analysis"
) -> orchestrator_pb2.WorkflowInstance:
    inputs = {"scheme_name": "scheme_beta", "population_size": size, "proposed_rules": PROPOSED}
    return stub.ExecuteWorkflow(
        orchestrator_pb2.ExecuteWorkflowRequest(template_id=template_id, inputs_json=json.dumps(inputs)), timeout=120
    ).instance


def _stream_breaks(caplog: pytest.LogCaptureFixture) -> list[str]:
    """Codes of the evaluator streams the orchestrator saw break and replaced."""
    return [
        str(getattr(record, "code", ""))
        for record in caplog.records
        if record.name == "orchestrator.impact.stream_pool" and record.getMessage().startswith("evaluator stream broke")
    ]


def _report(instance: orchestrator_pb2.WorkflowInstance) -> dict[str, Any]:
    assert instance.status == orchestrator_pb2.RUN_STATUS_COMPLETED, instance.error
    return dict(json.loads(instance.outputs_json)["impact_report"])


def _assert_equals_a_direct_evaluation(report: dict[str, Any], size: int) -> None:
    assert report["total"] == size and report["failed"] == 0
    assert {(t["from"], t["to"]): t["count"] for t in report["transitions"]} == reference_transitions(
        size, CURRENT, PROPOSED
    )


@pytest.fixture(scope="module")
def replicas(credentials: Credentials) -> Iterator[list[EvaluatorProcess]]:
    started = [start_evaluator_process(credentials), start_evaluator_process(credentials)]
    yield started
    for replica in started:
        replica.stop()


@pytest.fixture(scope="module")
def over_replicas(
    background_loop: BackgroundLoop,
    orchestrator_settings: OrchestratorSettings,
    credentials: Credentials,
    replicas: list[EvaluatorProcess],
) -> Iterator[orchestrator_pb2_grpc.OrchestratorServiceStub]:
    target = "ipv4:" + ",".join(f"127.0.0.1:{replica.port}" for replica in replicas)
    yield from _orchestrator(background_loop, orchestrator_settings, credentials, evaluator_target=target)


def test_a_replica_killed_mid_run_costs_no_citizen_and_counts_none_twice(
    over_replicas: orchestrator_pb2_grpc.OrchestratorServiceStub,
    replicas: list[EvaluatorProcess],
    owner: sa.Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="orchestrator.impact.stream_pool")
    doomed, survivor = replicas
    idle_cpu = doomed.cpu_seconds()
    with ThreadPoolExecutor(max_workers=1) as pool:
        run = pool.submit(_execute, over_replicas, LARGE)
        deadline = time.monotonic() + 60
        # Killed once it has been evaluating for a while: some of its batches answered, others in flight.
        while doomed.cpu_seconds() < idle_cpu + 0.03 and time.monotonic() < deadline and not run.done():
            time.sleep(0.005)
        assert not run.done(), "the run ended before the replica could be killed; make the population larger"
        doomed.kill()
        instance = run.result(timeout=120)

    report = _report(instance)
    # UNAVAILABLE or INTERNAL (a reset stream), depending on where the kill caught the connection.
    assert _stream_breaks(caplog), "no stream broke: the kill did not hit the run"
    _assert_equals_a_direct_evaluation(report, LARGE)
    assert stored_rows(owner, instance.instance_id) == (LARGE, 1, LARGE)
    # Every row as an undisturbed run writes it: the digest covers them all.
    undisturbed = _report(_execute(over_replicas, LARGE))
    assert undisturbed["results_digest"] == report["results_digest"]
    assert survivor.process.poll() is None


@pytest.fixture(scope="module")
def over_a_stalling_evaluator(
    background_loop: BackgroundLoop,
    orchestrator_settings: OrchestratorSettings,
    credentials: Credentials,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[orchestrator_pb2_grpc.OrchestratorServiceStub]:
    """An evaluator that holds back the batch of CIT-0005000 for a minute, once; batches time out after 1 s."""
    from evaluator.config import EvaluatorSettings
    from evaluator.server import start

    stalling = EvaluatorSettings(
        host="127.0.0.1",
        evaluator_port=0,
        evaluator_stall_citizens=frozenset({"CIT-0005000"}),
        evaluator_stall_seconds=60,
        evaluator_fault_times=1,
        **credentials.tls_settings(ServiceIdentity.EVALUATOR),
    )
    templates = tmp_path_factory.mktemp("templates")
    template = json.loads((REPO_ROOT / "templates" / "impact_analysis.json").read_text())
    for step in template["steps"]:
        if step["name"] == "evaluate_population":
            step["config"] = {**step["config"], "batch_timeout_seconds": 1.0}
    # Other content is another version: the session's database has the shipped one under the shipped number.
    template["version"] += "-batch-timeout-1s"
    (templates / "impact_analysis.json").write_text(json.dumps(template))
    with serve_on_loopback(background_loop, start(stalling)) as evaluator_target:
        yield from _orchestrator(
            background_loop,
            orchestrator_settings,
            credentials,
            evaluator_target=evaluator_target,
            templates_dir=Path(templates),
        )


def test_a_batch_a_replica_sits_on_is_sent_again_and_the_run_completes(
    over_a_stalling_evaluator: orchestrator_pb2_grpc.OrchestratorServiceStub,
    owner: sa.Engine,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="orchestrator.impact.stream_pool")
    started = time.monotonic()
    instance = _execute(over_a_stalling_evaluator, 20_000)
    elapsed = time.monotonic() - started

    _assert_equals_a_direct_evaluation(_report(instance), 20_000)
    breaks = _stream_breaks(caplog)
    assert breaks and set(breaks) == {"DEADLINE_EXCEEDED"}
    assert stored_rows(owner, instance.instance_id) == (20_000, 1, 20_000)
    assert elapsed < 30, "the run waited for the stalled batch instead of sending it again"
