"""deploy/kubernetes is valid against the Kubernetes API schemas and matches the code it deploys."""

from __future__ import annotations

import importlib.util
from typing import Any

import kubernetes_validate
import pytest
import yaml

from civicflow.settings import REPO_ROOT
from tests.support.service_settings import SETTINGS, default_port, settings_keys

MANIFESTS = REPO_ROOT / "deploy" / "kubernetes"
# The oldest release whose API (native gRPC probes, autoscaling/v2) the manifests rely on.
KUBERNETES_VERSION = "1.27.0"
# Kubernetes names cannot hold underscores; the Python package of a service can.
WORKLOADS = {package: package.replace("_", "-") for package in SETTINGS}


def load_resources() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    resources: list[dict[str, Any]] = []
    for name in kustomization["resources"]:
        resources.extend(document for document in yaml.safe_load_all((MANIFESTS / name).read_text()) if document)
    return resources


RESOURCES = load_resources()


def resource(kind: str, name: str) -> dict[str, Any]:
    matches = [r for r in RESOURCES if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def container(package: str) -> dict[str, Any]:
    containers: list[dict[str, Any]] = resource("Deployment", WORKLOADS[package])["spec"]["template"]["spec"][
        "containers"
    ]
    assert len(containers) == 1
    return containers[0]


def test_every_manifest_file_is_listed_in_the_kustomization() -> None:
    listed = set(yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"])
    on_disk = {path.name for path in MANIFESTS.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


@pytest.mark.parametrize("document", RESOURCES, ids=lambda r: f"{r['kind']}/{r['metadata']['name']}")
def test_each_resource_is_valid_against_the_kubernetes_schema(document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("package", sorted(SETTINGS))
def test_each_service_runs_its_package_entry_point_from_the_one_image(package: str) -> None:
    spec = container(package)
    assert spec["command"] == ["python", "-m", package]
    assert spec["image"] == "civicflow"
    assert importlib.util.find_spec(f"{package}.__main__") is not None


@pytest.mark.parametrize("package", sorted(SETTINGS))
def test_every_environment_key_is_a_field_of_the_services_settings(package: str) -> None:
    names = {variable["name"] for variable in container(package)["env"]}
    config = resource("ConfigMap", "civicflow-config")["data"]
    unknown = (names | set(config)) - settings_keys(package)
    assert not unknown, f"{package} would ignore {sorted(unknown)}"


@pytest.mark.parametrize("package", sorted(SETTINGS))
def test_ports_services_and_probes_use_the_settings_default(package: str) -> None:
    port = default_port(package)
    spec = container(package)
    assert [p["containerPort"] for p in spec["ports"]] == [port]
    assert [p["port"] for p in resource("Service", WORKLOADS[package])["spec"]["ports"]] == [port]
    readiness = spec["readinessProbe"]
    probed = readiness["httpGet"]["port"] if package == "gateway" else readiness["grpc"]["port"]
    assert probed == port
    assert spec["livenessProbe"]["tcpSocket"]["port"] == port


@pytest.mark.parametrize("package", sorted(SETTINGS))
def test_every_service_runs_as_non_root_with_a_memory_limit(package: str) -> None:
    pod = resource("Deployment", WORKLOADS[package])["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    spec = container(package)
    assert spec["securityContext"]["allowPrivilegeEscalation"] is False
    assert "memory" in spec["resources"]["limits"]


def test_orchestrator_reaches_every_evaluator_pod_through_a_headless_service() -> None:
    assert resource("Service", "evaluator")["spec"]["clusterIP"] == "None"
    environment = {v["name"]: v.get("value") for v in container("orchestrator")["env"]}
    assert environment["EVALUATOR_TARGET"] == f"dns:///evaluator:{default_port('evaluator')}"


def test_every_target_names_a_service_on_its_default_port() -> None:
    expected = {
        "ORCHESTRATOR_TARGET": f"orchestrator:{default_port('orchestrator')}",
        "AUDIT_TARGET": f"audit-service:{default_port('audit_service')}",
        "EVALUATOR_TARGET": f"dns:///evaluator:{default_port('evaluator')}",
    }
    for package in SETTINGS:
        for variable in container(package)["env"]:
            if variable["name"].endswith("_TARGET"):
                assert variable["value"] == expected[variable["name"]], f"{package}.{variable['name']}"


def test_services_with_a_database_read_its_url_from_the_secret() -> None:
    for package, settings in SETTINGS.items():
        if "database_url" in settings.model_fields:
            variables = {v["name"]: v for v in container(package)["env"]}
            assert variables["DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
                "name": "civicflow-database",
                "key": "url",
            }
