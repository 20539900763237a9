"""The impact-analysis limits on real replicas: a system-wide cap with a durable FIFO queue behind it, an allowance
per subject (429 with Retry-After through the gateway), and a population ceiling per role (403).

The replicas run against a database of their own (set up with the services' roles and grants, as
`make run` does), so that no run of the rest of the session takes a slot, and call an evaluator
that holds back one citizen's batch: every analysis lasts long enough for the queue to show.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from civicflow.auth.access import ServiceIdentity
from civicflow.auth.principals import Role
from civicflow.v1 import audit_pb2, orchestrator_pb2, orchestrator_pb2_grpc
from gateway.app import create_app
from gateway.config import GatewaySettings
from orchestrator.config import OrchestratorSettings
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.credentials import Credentials, authorization
from tests.support.databases import SetUpDatabase, set_up_database
from tests.support.orchestrators import replica_settings, serving, wait_until
from tests.support.rest_api import RestApi
from tests.support.seeded_schemes import shipped_template_version

POPULATION = 100
STALLED_CITIZEN = "CIT-0000050"
STALL_SECONDS = 0.6
QUEUED, RUNNING, COMPLETED = (
    orchestrator_pb2.RUN_STATUS_QUEUED,
    orchestrator_pb2.RUN_STATUS_RUNNING,
    orchestrator_pb2.RUN_STATUS_COMPLETED,
)
IMPACT_STEPS = 6


@pytest.fixture(scope="module")
def queue_database(postgres_server_url: str) -> Iterator[SetUpDatabase]:
    with set_up_database(postgres_server_url, name_prefix="civicflow_queue") as database:
        yield database


@pytest.fixture(scope="module")
def slow_evaluator(background_loop: BackgroundLoop, credentials: Credentials) -> Iterator[str]:
    from evaluator.config import EvaluatorSettings
    from evaluator.server import start

    settings = EvaluatorSettings(
        host="127.0.0.1",
        evaluator_port=0,
        evaluator_stall_citizens=frozenset({STALLED_CITIZEN}),
        evaluator_stall_seconds=STALL_SECONDS,
        **credentials.tls_settings(ServiceIdentity.EVALUATOR),
    )
    with serve_on_loopback(background_loop, start(settings), grace=0) as target:
        yield target


@pytest.fixture
def settings_for(
    orchestrator_settings: OrchestratorSettings, queue_database: SetUpDatabase, slow_evaluator: str
) -> Iterator[Any]:
    """Settings of a replica on the queue's database, with the given overrides."""

    def settings(**overrides: Any) -> OrchestratorSettings:
        return replica_settings(
            orchestrator_settings,
            database_url=queue_database.accounts.orchestrator,
            evaluator_target=slow_evaluator,
            impact_queue_poll_seconds=0.1,
            **overrides,
        )

    yield settings


@dataclass
class QueueSampler:
    """Reads the analyses' statuses from the database every few milliseconds, behind the replicas' backs."""

    admin_url: str
    most_running: int = 0
    seen: dict[str, list[str]] = field(default_factory=dict)  # statuses per instance, in the order they were seen
    started: list[str] = field(default_factory=list)  # instances in the order they were first seen running

    def sample(self, connection: sa.Connection) -> None:
        rows = connection.execute(
            # In submission order: analyses promoted together (their slots freed within one poll) are seen together.
            sa.text(
                "SELECT instance_id, status FROM orchestrator.workflow_instances WHERE template_id = :t"
                " ORDER BY created_at, instance_id"
            ),
            {"t": "impact_analysis"},
        ).all()
        self.most_running = max(self.most_running, sum(1 for row in rows if row.status == "running"))
        for row in rows:
            key = str(row.instance_id)
            statuses = self.seen.setdefault(key, [])
            if not statuses or statuses[-1] != row.status:
                statuses.append(row.status)
            if row.status == "running" and key not in self.started:
                self.started.append(key)


@contextmanager
def sampling(database: SetUpDatabase) -> Iterator[QueueSampler]:
    sampler = QueueSampler(database.admin_url)
    stop = threading.Event()
    engine = sa.create_engine(database.admin_url)

    def loop() -> None:
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT")
            while True:
                sampler.sample(connection)  # once more after the test has seen the end, so the sampler sees it too
                if stop.is_set():
                    return
                time.sleep(0.005)

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    try:
        yield sampler
    finally:
        stop.set()
        thread.join(timeout=10)
        engine.dispose()


def _stub(credentials: Credentials, target: str, token: str) -> orchestrator_pb2_grpc.OrchestratorServiceStub:
    return orchestrator_pb2_grpc.OrchestratorServiceStub(credentials.orchestrator_channel(target, token=token))


def _request(mode: int, population: int = POPULATION) -> orchestrator_pb2.ExecuteWorkflowRequest:
    inputs = {"scheme_name": "scheme_beta", "population_size": population, "proposed_rules": {"min_age": 25}}
    return orchestrator_pb2.ExecuteWorkflowRequest(
        template_id="impact_analysis", inputs_json=json.dumps(inputs), mode=mode
    )


def _start(stub: orchestrator_pb2_grpc.OrchestratorServiceStub) -> orchestrator_pb2.WorkflowInstance:
    return stub.ExecuteWorkflow(_request(orchestrator_pb2.EXECUTION_MODE_ASYNC), timeout=10).instance


def _statuses(stub: orchestrator_pb2_grpc.OrchestratorServiceStub, instance_id: str) -> list[int]:
    """The statuses WatchWorkflow reports, each once, until the run ends."""
    statuses: list[int] = []
    for reply in stub.WatchWorkflow(orchestrator_pb2.WatchWorkflowRequest(instance_id=instance_id), timeout=60):
        if not statuses or statuses[-1] != reply.instance.status:
            statuses.append(reply.instance.status)
    return statuses


def _drain(database: SetUpDatabase) -> None:
    """Waits, while the replicas still serve, for every analysis to end: the next test starts with an empty queue."""
    engine = sa.create_engine(database.admin_url)
    try:
        wait_until(lambda: not _unfinished(engine), timeout=60, what="every analysis of the test to end")
    finally:
        engine.dispose()


def _unfinished(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        query = "SELECT count(*) FROM orchestrator.workflow_instances WHERE status IN ('queued', 'running')"
        return int(connection.execute(sa.text(query)).scalar_one())


def test_a_third_analysis_waits_queued_and_the_queue_starts_in_submission_order(
    background_loop: BackgroundLoop, credentials: Credentials, settings_for: Any, queue_database: SetUpDatabase
) -> None:
    with serving(background_loop, settings_for(impact_max_running=2)) as target, sampling(queue_database) as sampler:
        stub = _stub(credentials, target, credentials.token(Role.ANALYST))
        first, second, third, fourth = (_start(stub) for _ in range(4))
        assert [first.status, second.status] == [RUNNING, RUNNING]
        assert [third.status, fourth.status] == [QUEUED, QUEUED]
        shown = stub.GetWorkflow(orchestrator_pb2.GetWorkflowRequest(instance_id=third.instance_id)).instance
        assert shown.status == QUEUED and shown.completed_at.seconds == 0
        assert _statuses(stub, third.instance_id) == [QUEUED, RUNNING, COMPLETED]
        assert _statuses(stub, fourth.instance_id)[-1] == COMPLETED
    ids = [instance.instance_id for instance in (first, second, third, fourth)]
    assert sampler.most_running == 2
    assert sampler.started == ids
    assert sampler.seen[third.instance_id] == ["queued", "running", "completed"]


def test_a_sync_execute_waits_through_the_queue_to_the_end_of_its_run(
    background_loop: BackgroundLoop, credentials: Credentials, settings_for: Any, queue_database: SetUpDatabase
) -> None:
    with serving(background_loop, settings_for(impact_max_running=1)) as target, sampling(queue_database) as sampler:
        stub = _stub(credentials, target, credentials.token(Role.ANALYST))
        running = _start(stub)
        waited = stub.ExecuteWorkflow(_request(orchestrator_pb2.EXECUTION_MODE_SYNC), timeout=60).instance
    assert waited.status == COMPLETED, waited.error
    assert json.loads(waited.outputs_json)["impact_report"]["total"] == POPULATION
    assert sampler.seen[waited.instance_id] == ["queued", "running", "completed"]
    assert sampler.started == [running.instance_id, waited.instance_id]


def test_rest_shows_a_queued_analysis_and_its_events_go_queued_running_completed(
    background_loop: BackgroundLoop,
    credentials: Credentials,
    settings_for: Any,
    gateway_settings: GatewaySettings,
) -> None:
    body = {"template_id": "impact_analysis", "inputs": {"scheme_name": "scheme_beta", "population_size": POPULATION}}
    with serving(background_loop, settings_for(impact_max_running=1)) as target:
        app = create_app(gateway_settings.model_copy(update={"orchestrator_target": target}))
        with TestClient(app) as client:
            api = RestApi.acting_as(client, credentials, Role.ANALYST)
            started = [api.post("/workflows/execute", json={**body, "mode": "async"}).json() for _ in range(2)]
            assert [run["status"] for run in started] == ["running", "queued"]
            shown = api.instance(started[1]["instance_id"])
            assert (shown["status"], shown["completed_at"]) == ("queued", None)
            with api.stream("GET", f"/workflows/{started[1]['instance_id']}/events") as response:
                lines = [line for line in response.iter_lines() if line.startswith("data: ")]
    statuses = [json.loads(line.removeprefix("data: "))["status"] for line in lines]
    assert [status for index, status in enumerate(statuses) if statuses[index - 1 : index] != [status]] == [
        "queued",
        "running",
        "completed",
    ]


def test_two_replicas_together_run_no_more_analyses_than_the_system_wide_cap(
    background_loop: BackgroundLoop, credentials: Credentials, settings_for: Any, queue_database: SetUpDatabase
) -> None:
    settings = settings_for(impact_max_running=2, impact_max_per_subject=10)
    with (
        serving(background_loop, settings) as first_target,
        serving(background_loop, settings.model_copy(update={"replica_id": "second-replica"})) as second_target,
        sampling(queue_database) as sampler,
    ):
        token = credentials.token(Role.ANALYST)
        stubs = [_stub(credentials, first_target, token), _stub(credentials, second_target, token)]
        started = [_start(stubs[index % 2]) for index in range(6)]
        endings = [_statuses(stubs[index % 2], instance.instance_id)[-1] for index, instance in enumerate(started)]
    assert endings == [COMPLETED] * 6
    assert sampler.most_running == 2
    assert sampler.started == [instance.instance_id for instance in started]


def test_a_subject_beyond_its_allowance_gets_429_with_retry_after_and_nothing_is_created(
    background_loop: BackgroundLoop,
    credentials: Credentials,
    settings_for: Any,
    gateway_settings: GatewaySettings,
    queue_database: SetUpDatabase,
) -> None:
    subject = f"analyst-{uuid.uuid4().hex[:8]}"
    headers = authorization(credentials.issue(subject, Role.ANALYST))
    body = {
        "template_id": "impact_analysis",
        "inputs": {"scheme_name": "scheme_beta", "population_size": POPULATION},
        "mode": "async",
    }
    with serving(background_loop, settings_for(impact_max_running=1, impact_retry_after_seconds=7)) as target:
        app = create_app(gateway_settings.model_copy(update={"orchestrator_target": target}))
        with TestClient(app) as client:
            accepted = [client.post("/workflows/execute", json=body, headers=headers) for _ in range(4)]
            refused = client.post("/workflows/execute", json=body, headers=headers)
            other = client.post("/workflows/execute", json=body, headers=authorization(credentials.token(Role.ADMIN)))
            assert [response.status_code for response in accepted] == [202] * 4
            assert [response.json()["status"] for response in accepted] == ["running"] + ["queued"] * 3
            assert refused.status_code == 429, refused.text
            assert refused.headers["Retry-After"] == "7"
            assert refused.json()["error"]["code"] == "RESOURCE_EXHAUSTED"
            assert other.status_code == 202  # the allowance is the subject's, not everyone's
            with sa.create_engine(queue_database.admin_url).connect() as connection:
                counted = connection.execute(
                    sa.text("SELECT count(*) FROM orchestrator.workflow_instances WHERE actor = :actor"),
                    {"actor": subject},
                ).scalar_one()
            assert counted == 4
        _drain(queue_database)


def test_a_population_above_what_the_callers_roles_allow_is_refused_with_403(
    background_loop: BackgroundLoop,
    credentials: Credentials,
    settings_for: Any,
    gateway_settings: GatewaySettings,
    queue_database: SetUpDatabase,
) -> None:
    limits = {Role.ANALYST: POPULATION, Role.ADMIN: 1_000_000}
    with serving(background_loop, settings_for(impact_population_limits=limits)) as target:
        stub = _stub(credentials, target, credentials.token(Role.ANALYST))
        with pytest.raises(grpc.RpcError) as refused:
            stub.ExecuteWorkflow(_request(orchestrator_pb2.EXECUTION_MODE_ASYNC, POPULATION + 1), timeout=10)
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert f"at most {POPULATION}" in refused.value.details()
        app = create_app(gateway_settings.model_copy(update={"orchestrator_target": target}))
        with TestClient(app) as client:
            over = {"scheme_name": "scheme_beta", "population_size": POPULATION + 1}
            body = {"template_id": "impact_analysis", "inputs": over, "mode": "async"}
            forbidden = client.post(
                "/workflows/execute", json=body, headers=authorization(credentials.token(Role.ANALYST))
            )
            allowed = client.post("/workflows/execute", json=body, headers=authorization(credentials.token(Role.ADMIN)))
            within = {**body, "inputs": {**over, "population_size": POPULATION}}
            at_limit = client.post(
                "/workflows/execute", json=within, headers=authorization(credentials.token(Role.ANALYST))
            )
        _drain(queue_database)
    assert forbidden.status_code == 403 and forbidden.json()["error"]["code"] == "PERMISSION_DENIED"
    assert allowed.status_code == 202 and at_limit.status_code == 202
    with sa.create_engine(queue_database.admin_url).connect() as connection:
        sizes = connection.execute(
            sa.text(
                "SELECT (inputs->>'population_size')::int AS size, actor FROM orchestrator.workflow_instances"
                " WHERE instance_id IN (:a, :b)"
            ),
            {"a": allowed.json()["instance_id"], "b": at_limit.json()["instance_id"]},
        ).all()
    assert sorted(row.size for row in sizes) == [POPULATION, POPULATION + 1]


def test_a_queued_analysis_survives_an_orchestrator_restart_and_completes(
    background_loop: BackgroundLoop, credentials: Credentials, settings_for: Any, queue_database: SetUpDatabase
) -> None:
    settings = settings_for(impact_max_running=1)
    with serving(background_loop, settings) as target:
        stub = _stub(credentials, target, credentials.token(Role.ANALYST))
        running, queued = _start(stub), _start(stub)
        assert (running.status, queued.status) == (RUNNING, QUEUED)
    # Every replica is gone: the queued run is a row, and nobody owns it.
    with sa.create_engine(queue_database.admin_url).connect() as connection:
        row = connection.execute(
            sa.text("SELECT status, owner FROM orchestrator.workflow_instances WHERE instance_id = :id"),
            {"id": queued.instance_id},
        ).one()
    assert (row.status, row.owner) == ("queued", None)
    with serving(background_loop, settings.model_copy(update={"replica_id": "restarted-replica"})) as target:
        stub = _stub(credentials, target, credentials.token(Role.ANALYST))
        assert _statuses(stub, running.instance_id)[-1] == COMPLETED
        assert _statuses(stub, queued.instance_id)[-1] == COMPLETED
        trail = stub.GetAuditTrail(orchestrator_pb2.GetAuditTrailRequest(instance_id=queued.instance_id)).entries
    successes = Counter(
        entry.record.step_index for entry in trail if entry.record.status == audit_pb2.STEP_STATUS_SUCCESS
    )
    assert successes == Counter(range(IMPACT_STEPS))


def test_a_queued_analysis_whose_template_changed_meanwhile_runs_under_the_version_it_was_queued_with(
    background_loop: BackgroundLoop,
    credentials: Credentials,
    settings_for: Any,
    queue_database: SetUpDatabase,
    tmp_path: Path,
) -> None:
    settings = settings_for(impact_max_running=1)
    with serving(background_loop, settings) as target:
        stub = _stub(credentials, target, credentials.token(Role.ANALYST))
        running, queued = _start(stub), _start(stub)
        assert (running.status, queued.status) == (RUNNING, QUEUED)
    changed = tmp_path / "templates"
    shutil.copytree(settings.templates_dir, changed)
    impact = json.loads((changed / "impact_analysis.json").read_text())
    impact["version"] = "9.0.0"
    (changed / "impact_analysis.json").write_text(json.dumps(impact))

    # This replica has only 9.0.0 in its files: the queued run's version comes from the database.
    restarted = settings.model_copy(update={"replica_id": "replica-with-new-templates", "templates_dir": changed})
    with serving(background_loop, restarted) as target:
        stub = _stub(credentials, target, credentials.token(Role.ANALYST))
        assert _statuses(stub, queued.instance_id)[-1] == COMPLETED
        ended = stub.GetWorkflow(orchestrator_pb2.GetWorkflowRequest(instance_id=queued.instance_id)).instance
        _drain(queue_database)
    assert ended.template_version == shipped_template_version("impact_analysis")
