"""docker-compose.yml is valid Compose and matches the code: commands, settings names, ports, targets."""

from __future__ import annotations

import importlib
import importlib.util
import json
from typing import Any

import jsonschema
import pytest
import yaml

from civicflow.settings import REPO_ROOT
from tests.support.service_settings import PORT_FIELDS, SETTINGS, default_port, settings_keys

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
SCHEMA_FILE = REPO_ROOT / "deploy" / "schemas" / "compose-spec.json"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())
    return document


def test_compose_file_is_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    # The schema names draft 7 by a URI (no trailing '#') that jsonschema does not recognise.
    assert schema["$schema"].rstrip("#") == "https://json-schema.org/draft-07/schema"
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda error: list(error.absolute_path))
    assert not errors, "\n".join(f"{list(error.absolute_path)}: {error.message}" for error in errors)


def test_compose_runs_postgres_16_and_the_four_services(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"postgres", *SETTINGS}
    postgres = compose["services"]["postgres"]
    assert postgres["image"] == "postgres:16"
    assert "healthcheck" in postgres
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in postgres["volumes"])
    assert "pgdata" in compose["volumes"]


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_each_service_runs_its_package_entry_point(compose: dict[str, Any], service: str) -> None:
    command = compose["services"][service]["command"]
    assert command == ["python", "-m", service]
    assert importlib.util.find_spec(f"{service}.__main__") is not None, f"{service} has no __main__ module"


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_each_service_is_built_from_the_deploy_dockerfile(compose: dict[str, Any], service: str) -> None:
    definition = compose["services"][service]
    assert definition["build"] == {"context": ".", "dockerfile": "deploy/Dockerfile"}
    assert (REPO_ROOT / definition["build"]["context"] / definition["build"]["dockerfile"]).is_file()
    assert definition["restart"] == "unless-stopped"


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_every_environment_key_is_a_field_of_the_services_settings(compose: dict[str, Any], service: str) -> None:
    environment = compose["services"][service]["environment"]
    fields = settings_keys(service)
    assert set(environment) <= fields, f"unknown settings for {service}: {sorted(set(environment) - fields)}"


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_the_environment_is_accepted_by_the_services_settings(
    compose: dict[str, Any], service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in settings_keys(service):
        monkeypatch.delenv(name, raising=False)
    for name, value in compose["services"][service]["environment"].items():
        monkeypatch.setenv(name, str(value))
    settings = SETTINGS[service]()
    assert getattr(settings, PORT_FIELDS[service]) == default_port(service)


def test_services_that_need_a_database_get_the_compose_postgres(compose: dict[str, Any]) -> None:
    url = "postgresql://civicflow:civicflow@postgres:5432/civicflow"
    for service, settings in SETTINGS.items():
        if "database_url" in settings.model_fields:
            assert compose["services"][service]["environment"]["DATABASE_URL"] == url
            assert compose["services"][service]["depends_on"]["postgres"]["condition"] == "service_healthy"


def test_published_ports_are_the_settings_defaults(compose: dict[str, Any]) -> None:
    published = {service: compose["services"][service].get("ports", []) for service in SETTINGS}
    assert published["gateway"] == [f"{default_port('gateway')}:{default_port('gateway')}"]
    assert published["orchestrator"] == [f"{default_port('orchestrator')}:{default_port('orchestrator')}"]
    # A host port on the evaluator would stop `--scale evaluator=3` at the second replica.
    assert published["evaluator"] == []


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_port_settings_and_healthchecks_use_the_default_port(compose: dict[str, Any], service: str) -> None:
    definition = compose["services"][service]
    assert int(definition["environment"][PORT_FIELDS[service].upper()]) == default_port(service)
    assert f"localhost:{default_port(service)}" in " ".join(definition["healthcheck"]["test"])


def test_orchestrator_reaches_every_evaluator_replica_through_dns_round_robin(compose: dict[str, Any]) -> None:
    environment = compose["services"]["orchestrator"]["environment"]
    assert environment["EVALUATOR_TARGET"] == f"dns:///evaluator:{default_port('evaluator')}"


def test_every_target_names_a_compose_service_on_its_default_port(compose: dict[str, Any]) -> None:
    expected = {
        "ORCHESTRATOR_TARGET": f"orchestrator:{default_port('orchestrator')}",
        "AUDIT_TARGET": f"audit_service:{default_port('audit_service')}",
        "EVALUATOR_TARGET": f"dns:///evaluator:{default_port('evaluator')}",
    }
    for service in SETTINGS:
        for name, value in compose["services"][service]["environment"].items():
            if name.endswith("_TARGET"):
                assert value == expected[name], f"{service}.{name}"


def test_dependencies_wait_for_health(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert {name: dependency["condition"] for name, dependency in services["orchestrator"]["depends_on"].items()} == {
        "postgres": "service_healthy",
        "audit_service": "service_healthy",
        "evaluator": "service_healthy",
    }
    assert services["gateway"]["depends_on"] == {"orchestrator": {"condition": "service_healthy"}}


def test_image_runs_as_non_root_and_ships_templates_and_schemes(compose: dict[str, Any]) -> None:
    dockerfile = (REPO_ROOT / "deploy" / "Dockerfile").read_text()
    stages = [line for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert len(stages) >= 2, "the image is built in a builder stage and a slim runtime stage"
    assert stages[-1].startswith("FROM python:3.12-slim")
    runtime = dockerfile[dockerfile.rindex("FROM ") :]
    user_lines = [line for line in runtime.splitlines() if line.startswith("USER ")]
    assert user_lines and not user_lines[-1].split()[1].startswith(("root", "0"))
    assert "COPY templates/" in runtime and "COPY schemes/" in runtime
    orchestrator = compose["services"]["orchestrator"]["environment"]
    assert f"TEMPLATES_DIR={orchestrator['TEMPLATES_DIR']}" in runtime
    assert f"SCHEMES_FILE={orchestrator['SCHEMES_FILE']}" in runtime
