"""The launcher's process plan: which processes run, on which ports, wired to each other how."""

from __future__ import annotations

from pathlib import Path

import pytest

from civicflow.database_setup import DatabaseAccounts
from civicflow.launch.process_plan import Credentials, ProcessPlanError, ProcessSpec, plan_processes
from civicflow.launch.settings import LauncherSettings, free_port_environment, on_free_ports
from tests.support.credentials import Credentials as SessionCredentials
from tests.support.service_settings import SETTINGS, default_port, settings_keys

DATABASE = DatabaseAccounts(
    owner="postgresql://civicflow_owner:owner-secret@localhost/civicflow",
    orchestrator="postgresql://civicflow_orchestrator:orchestrator-secret@localhost/civicflow",
    audit="postgresql://civicflow_audit:audit-secret@localhost/civicflow",
)


@pytest.fixture(autouse=True)
def no_launcher_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings come from each test, never from the environment of whoever runs the tests."""
    for name in LauncherSettings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture(scope="module")
def made(credentials: SessionCredentials) -> Credentials:
    """What the launcher makes before it plans: the session's certificates and token issuer's key stand in."""
    return credentials.as_launched()


def settings(**overrides: object) -> LauncherSettings:
    return LauncherSettings(**overrides)  # type: ignore[arg-type]


def by_name(plan: list[ProcessSpec]) -> dict[str, ProcessSpec]:
    return {process.name: process for process in plan}


def test_one_evaluator_gives_the_four_services_on_their_default_ports(made: Credentials) -> None:
    plan = by_name(plan_processes(settings(), database=DATABASE, credentials=made, python="python"))

    assert {name: process.port for name, process in plan.items()} == {
        "audit_service": 50053,
        "evaluator": 50052,
        "orchestrator": 50051,
        "gateway": 8000,
    }
    assert plan["orchestrator"].env["EVALUATOR_TARGET"] == "127.0.0.1:50052"
    assert plan["orchestrator"].env["AUDIT_TARGET"] == "127.0.0.1:50053"
    assert plan["gateway"].env["ORCHESTRATOR_TARGET"] == "127.0.0.1:50051"


def test_the_launcher_defaults_are_the_services_defaults(made: Credentials) -> None:
    plan = by_name(plan_processes(settings(), database=DATABASE, credentials=made))
    for name in SETTINGS:
        assert plan[name].port == default_port(name)


def test_two_evaluators_listen_on_distinct_ports_and_the_orchestrator_round_robins_over_both(made: Credentials) -> None:
    plan = plan_processes(settings(evaluators=2), database=DATABASE, credentials=made)
    evaluators = [process for process in plan if process.module == "evaluator"]

    assert [(process.name, process.port) for process in evaluators] == [("evaluator.0", 50052), ("evaluator.1", 50061)]
    assert [process.env["EVALUATOR_PORT"] for process in evaluators] == ["50052", "50061"]
    target = "ipv4:127.0.0.1:50052,127.0.0.1:50061"
    assert by_name(plan)["orchestrator"].env["EVALUATOR_TARGET"] == target
    assert by_name(plan)["gateway"].env["EVALUATOR_TARGET"] == target


def test_each_process_runs_its_package_with_the_given_python(made: Credentials) -> None:
    plan = plan_processes(settings(evaluators=3), database=DATABASE, credentials=made, python="/opt/python")
    assert [process.argv for process in plan] == [
        ("/opt/python", "-m", "audit_service"),
        ("/opt/python", "-m", "evaluator"),
        ("/opt/python", "-m", "evaluator"),
        ("/opt/python", "-m", "evaluator"),
        ("/opt/python", "-m", "orchestrator"),
        ("/opt/python", "-m", "gateway"),
    ]


def test_every_variable_given_to_a_service_is_one_of_its_settings(made: Credentials) -> None:
    for process in plan_processes(settings(evaluators=2), database=DATABASE, credentials=made):
        assert set(process.env) - {"PYTHONUNBUFFERED"} <= settings_keys(process.module), process.name


def test_services_with_tables_get_the_database_and_the_others_do_not(made: Credentials) -> None:
    plan = by_name(plan_processes(settings(), database=DATABASE, credentials=made))
    # Each service logs in as its own role; none is given the owner's, which only migrates.
    assert plan["audit_service"].env["DATABASE_URL"] == DATABASE.audit
    assert plan["orchestrator"].env["DATABASE_URL"] == DATABASE.orchestrator
    assert not any(DATABASE.owner in process.env.values() for process in plan.values())
    assert "DATABASE_URL" not in plan["evaluator"].env
    assert "DATABASE_URL" not in plan["gateway"].env


def test_the_shared_settings_reach_every_process(made: Credentials) -> None:
    plan = plan_processes(
        settings(host="0.0.0.0", log_level="DEBUG", shutdown_grace_seconds=3),
        database=DATABASE,
        credentials=made,
    )
    for process in plan:
        assert (process.env["HOST"], process.env["LOG_LEVEL"], process.env["SHUTDOWN_GRACE_SECONDS"]) == (
            "0.0.0.0",
            "DEBUG",
            "3.0",
        )


@pytest.mark.parametrize(("chosen", "passed_on"), [("auto", "json"), ("human", "human"), ("json", "json")])
def test_the_log_format_is_decided_once_by_the_launcher_for_every_process(
    made: Credentials, chosen: str, passed_on: str
) -> None:
    # Under pytest the launcher's stdout is captured, not a terminal: auto is JSON, for the children too,
    # whose own stdout is always the launcher's pipe.
    plan = plan_processes(settings(log_format=chosen), database=DATABASE, credentials=made)

    assert {process.env["LOG_FORMAT"] for process in plan} == {passed_on}


def test_the_orchestrator_is_given_the_templates_and_schemes_it_should_load(tmp_path: Path, made: Credentials) -> None:
    chosen = settings(templates_dir=tmp_path / "templates", schemes_dir=tmp_path / "schemes")
    orchestrator = by_name(plan_processes(chosen, database=DATABASE, credentials=made))["orchestrator"]
    assert orchestrator.env["TEMPLATES_DIR"] == str(tmp_path / "templates")
    assert orchestrator.env["SCHEMES_DIR"] == str(tmp_path / "schemes")


def test_two_processes_on_one_port_are_refused(made: Credentials) -> None:
    with pytest.raises(ProcessPlanError, match="port 50051"):
        plan_processes(settings(evaluators=2, evaluator_replica_port_base=50050), database=DATABASE, credentials=made)


def test_on_free_ports_moves_every_port_and_the_replicas_follow(made: Credentials) -> None:
    moved = on_free_ports(settings(evaluators=2))
    ports = [process.port for process in plan_processes(moved, database=DATABASE, credentials=made)]

    assert len(set(ports)) == len(ports) == 5
    assert not {50051, 50052, 50053, 50061, 8000} & set(ports)


def test_free_port_environment_names_the_variables_the_launcher_reads() -> None:
    environment = free_port_environment(evaluators=2)
    assert set(environment) == {
        "ORCHESTRATOR_PORT",
        "EVALUATOR_PORT",
        "EVALUATOR_REPLICA_PORT_BASE",
        "AUDIT_PORT",
        "GATEWAY_PORT",
        "ORCHESTRATOR_METRICS_PORT",
        "EVALUATOR_METRICS_PORT",
        "EVALUATOR_REPLICA_METRICS_PORT_BASE",
        "AUDIT_METRICS_PORT",
        "GATEWAY_METRICS_PORT",
    }
    assert {name.lower() for name in environment} <= set(LauncherSettings.model_fields)


def test_every_service_is_given_a_metrics_port_of_its_own(made: Credentials) -> None:
    plan = plan_processes(on_free_ports(settings(evaluators=2)), database=DATABASE, credentials=made)
    metrics = [process.metrics_port for process in plan]
    assert None not in metrics
    assert [process.env["METRICS_PORT"] for process in plan] == [str(port) for port in metrics]
    assert len(set(metrics) | {process.port for process in plan}) == 2 * len(plan) == 10


def test_a_metrics_port_taken_by_another_process_is_refused(made: Credentials) -> None:
    with pytest.raises(ProcessPlanError, match="gateway's metrics and orchestrator would both listen on port 50051"):
        plan_processes(settings(gateway_metrics_port=50051), database=DATABASE, credentials=made)


def test_a_restarted_orchestrator_keeps_its_replica_id_so_it_takes_its_runs_back_at_once(made: Credentials) -> None:
    first = by_name(plan_processes(LauncherSettings(), database=DATABASE, credentials=made))["orchestrator"]
    again = by_name(plan_processes(LauncherSettings(), database=DATABASE, credentials=made))["orchestrator"]
    other_port = by_name(plan_processes(LauncherSettings(orchestrator_port=50071), database=DATABASE, credentials=made))
    assert first.env["REPLICA_ID"] == again.env["REPLICA_ID"]
    assert other_port["orchestrator"].env["REPLICA_ID"] != first.env["REPLICA_ID"]
