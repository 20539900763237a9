"""deploy/kubernetes is valid against the Kubernetes API schemas and fits the code and the trust boundary: each
service reads its own certificate Secret (the one cert-manager's example Certificate for its identity writes), the
token key where it verifies tokens, a database URL Secret of its own; a Job sets the database up; probes ask the
plaintext health port, which no Service exposes.
"""

from __future__ import annotations

import importlib.util
from pathlib import PurePosixPath
from typing import Any

import kubernetes_validate
import pytest
import yaml

from civicflow.auth.tokens import TokenSettings
from civicflow.grpc_server import LIVENESS_SERVICE
from civicflow.settings import REPO_ROOT
from tests.support.service_settings import IDENTITIES, PORT_FIELDS, SETTINGS, default_port, settings_keys

MANIFESTS = REPO_ROOT / "deploy" / "kubernetes"
CERT_MANAGER = MANIFESTS / "cert-manager"
# The oldest release whose API (native gRPC probes, autoscaling/v2) the manifests rely on.
KUBERNETES_VERSION = "1.27.0"
# Kubernetes names cannot hold underscores; the Python package of a service can.
WORKLOADS = {package: package.replace("_", "-") for package in SETTINGS}
GRPC_SERVICES = sorted(set(SETTINGS) - {"gateway"})
TOKEN_VERIFIERS = sorted(package for package in SETTINGS if issubclass(SETTINGS[package], TokenSettings))
WITH_TABLES = sorted(package for package in SETTINGS if "database_url" in SETTINGS[package].model_fields)


def load_resources(directory: Any = MANIFESTS) -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    resources: list[dict[str, Any]] = []
    for name in kustomization["resources"]:
        resources.extend(document for document in yaml.safe_load_all((directory / name).read_text()) if document)
    return resources


RESOURCES = load_resources()
CERTIFICATES = load_resources(CERT_MANAGER)


def resource(kind: str, name: str, resources: list[dict[str, Any]] = RESOURCES) -> dict[str, Any]:
    matches = [r for r in resources if r["kind"] == kind and r["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind}/{name}, found {len(matches)}"
    return matches[0]


def pod(package: str) -> dict[str, Any]:
    spec: dict[str, Any] = resource("Deployment", WORKLOADS[package])["spec"]["template"]["spec"]
    return spec


def container(package: str) -> dict[str, Any]:
    containers: list[dict[str, Any]] = pod(package)["containers"]
    assert len(containers) == 1
    return containers[0]


def job() -> dict[str, Any]:
    spec: dict[str, Any] = resource("Job", "civicflow-database-setup")["spec"]["template"]["spec"]
    return spec


def environment(package: str) -> dict[str, Any]:
    """The container's variables: the shared ConfigMap's values, then its own (a value, or where it comes from)."""
    shared = resource("ConfigMap", "civicflow-config")["data"]
    own = {variable["name"]: variable.get("value", variable.get("valueFrom")) for variable in container(package)["env"]}
    return {**shared, **own}


def source_of(spec: dict[str, Any], pod_spec: dict[str, Any], path: str) -> tuple[str, str, str]:
    """Which Secret or ConfigMap, and which key of it, the file at `path` of the container comes from."""
    mounted = [m for m in spec["volumeMounts"] if PurePosixPath(path).is_relative_to(m["mountPath"])]
    assert len(mounted) == 1, f"{path} is in no mounted volume"
    (volume,) = [v for v in pod_spec["volumes"] if v["name"] == mounted[0]["name"]]
    key = str(PurePosixPath(path).relative_to(mounted[0]["mountPath"]))
    if "secret" in volume:
        return "Secret", volume["secret"]["secretName"], key
    return "ConfigMap", volume["configMap"]["name"], key


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
    unknown = set(environment(package)) - settings_keys(package)
    assert not unknown, f"{package} would ignore {sorted(unknown)}"


@pytest.mark.parametrize("package", sorted(SETTINGS))
def test_ports_and_services_use_the_settings_default_and_no_service_exposes_a_health_port(package: str) -> None:
    port = default_port(package)
    ports = {p["name"]: p["containerPort"] for p in container(package)["ports"]}
    assert ports.pop("grpc" if package in GRPC_SERVICES else "http") == port
    assert ports.pop("metrics") == int(environment(package)["METRICS_PORT"])
    if package in GRPC_SERVICES:
        assert ports == {"health": int(environment(package)["HEALTH_PORT"])}
    assert [p["port"] for p in resource("Service", WORKLOADS[package])["spec"]["ports"]] == [port]
    assert int(environment(package)[PORT_FIELDS[package].upper()]) == port


@pytest.mark.parametrize("package", sorted(SETTINGS))
def test_prometheus_scrapes_each_pods_metrics_port_by_its_annotations_and_no_service_exposes_it(package: str) -> None:
    template = resource("Deployment", WORKLOADS[package])["spec"]["template"]
    metrics = int(environment(package)["METRICS_PORT"])
    assert template["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(metrics),
        "prometheus.io/path": "/metrics",
    }
    assert {"name": "metrics", "containerPort": metrics} in container(package)["ports"]
    assert metrics not in [p["port"] for p in resource("Service", WORKLOADS[package])["spec"]["ports"]]


@pytest.mark.parametrize("package", GRPC_SERVICES)
def test_grpc_probes_are_native_on_the_plaintext_health_port_and_liveness_asks_liveness(package: str) -> None:
    # Native gRPC probes cannot present a client certificate: they ask the port that serves health alone.
    spec = container(package)
    health = int(environment(package)["HEALTH_PORT"])
    assert spec["readinessProbe"]["grpc"] == {"port": health}
    assert spec["livenessProbe"]["grpc"] == {"port": health, "service": LIVENESS_SERVICE}


def test_the_gateway_is_ready_by_healthz_and_alive_by_its_port() -> None:
    spec = container("gateway")
    assert spec["readinessProbe"]["httpGet"] == {"path": "/healthz", "port": default_port("gateway")}
    assert spec["livenessProbe"]["tcpSocket"]["port"] == default_port("gateway")


@pytest.mark.parametrize("package", sorted(SETTINGS))
def test_every_service_runs_as_non_root_with_a_read_only_root_and_a_memory_limit(package: str) -> None:
    for pod_spec, spec in ((pod(package), container(package)), (job(), job()["containers"][0])):
        assert pod_spec["securityContext"]["runAsNonRoot"] is True
        assert pod_spec["securityContext"]["runAsUser"] != 0
        assert pod_spec["automountServiceAccountToken"] is False
        assert spec["securityContext"]["allowPrivilegeEscalation"] is False
        assert spec["securityContext"]["readOnlyRootFilesystem"] is True
        assert spec["securityContext"]["capabilities"]["drop"] == ["ALL"]
        assert "memory" in spec["resources"]["limits"]


@pytest.mark.parametrize("package", sorted(SETTINGS))
def test_each_service_reads_its_own_certificate_secret_which_cert_manager_issues_for_its_identity(
    package: str,
) -> None:
    variables = environment(package)
    files = {
        name: source_of(container(package), pod(package), variables[name])
        for name in ("TLS_CA_PATH", "TLS_CERT_PATH", "TLS_KEY_PATH")
    }
    secrets = {source for _, source, _ in files.values()}
    assert len(secrets) == 1 and all(kind == "Secret" for kind, _, _ in files.values())
    (secret,) = secrets
    # A kubernetes.io/tls Secret as cert-manager writes it, the issuing authority's certificate beside.
    assert {name: key for name, (_, _, key) in files.items()} == {
        "TLS_CA_PATH": "ca.crt",
        "TLS_CERT_PATH": "tls.crt",
        "TLS_KEY_PATH": "tls.key",
    }
    (certificate,) = [c for c in CERTIFICATES if c["kind"] == "Certificate" and c["spec"]["secretName"] == secret]
    assert certificate["spec"]["commonName"] == IDENTITIES[package]
    assert IDENTITIES[package] in certificate["spec"]["dnsNames"]
    # No other service mounts it.
    for other in set(SETTINGS) - {package}:
        assert secret not in {v["secret"]["secretName"] for v in pod(other)["volumes"] if "secret" in v}, other
    # Secret files are root's: the pod's group must be given them.
    assert pod(package)["securityContext"]["fsGroup"] == pod(package)["securityContext"]["runAsGroup"]


def test_cert_manager_issues_every_certificate_from_one_authority_for_server_and_client_use() -> None:
    assert not {path.name for path in CERT_MANAGER.glob("*.yaml")} & set(
        yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())["resources"]
    )
    listed = set(yaml.safe_load((CERT_MANAGER / "kustomization.yaml").read_text())["resources"])
    assert listed == {path.name for path in CERT_MANAGER.glob("*.yaml")} - {"kustomization.yaml"}
    assert {document["apiVersion"] for document in CERTIFICATES} == {"cert-manager.io/v1"}
    services = [c for c in CERTIFICATES if c["kind"] == "Certificate" and not c["spec"].get("isCA")]
    (authority,) = [c for c in CERTIFICATES if c["kind"] == "Certificate" and c["spec"].get("isCA")]
    issuer = resource("Issuer", services[0]["spec"]["issuerRef"]["name"], CERTIFICATES)

    assert sorted(c["spec"]["commonName"] for c in services) == sorted(IDENTITIES.values())
    assert issuer["spec"]["ca"]["secretName"] == authority["spec"]["secretName"]
    for certificate in services:
        assert certificate["spec"]["issuerRef"] == services[0]["spec"]["issuerRef"]
        assert {"server auth", "client auth"} <= set(certificate["spec"]["usages"])
    assert "selfSigned" in resource("Issuer", authority["spec"]["issuerRef"]["name"], CERTIFICATES)["spec"]


@pytest.mark.parametrize("package", sorted(SETTINGS))
def test_services_that_verify_tokens_read_the_public_key_and_the_others_have_none(package: str) -> None:
    variables = environment(package)
    if package not in TOKEN_VERIFIERS:
        assert "TOKEN_PUBLIC_KEY_PATH" not in variables
        return
    kind, name, _ = source_of(container(package), pod(package), variables["TOKEN_PUBLIC_KEY_PATH"])
    assert (kind, name) == ("ConfigMap", "civicflow-token-public-key")


def test_services_with_tables_read_a_database_url_secret_of_their_own_and_nothing_of_the_setups() -> None:
    secrets = {}
    for package in WITH_TABLES:
        reference = environment(package)["DATABASE_URL"]["secretKeyRef"]
        assert reference["key"] == "url"
        secrets[package] = reference["name"]
    assert len(set(secrets.values())) == len(WITH_TABLES)
    setup_secrets = {"civicflow-database-admin", "civicflow-database-passwords"}
    for package in SETTINGS:
        names = str(container(package)) + str(pod(package)["volumes"])
        assert not any(secret in names for secret in setup_secrets), package
        if package not in WITH_TABLES:
            assert "DATABASE_URL" not in environment(package)


def test_the_database_setup_job_runs_the_setup_with_the_admin_url_and_passwords_from_secrets() -> None:
    spec = job()
    (setup,) = spec["containers"]
    command = setup["command"]
    assert command[:3] == ["python", "-m", "civicflow.database_setup"]
    assert importlib.util.find_spec("civicflow.database_setup") is not None
    assert source_of(setup, spec, command[command.index("--passwords-file") + 1])[:2] == (
        "Secret",
        "civicflow-database-passwords",
    )
    variables = {variable["name"]: variable for variable in setup["env"]}
    assert variables["DATABASE_ADMIN_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "civicflow-database-admin",
        "key": "url",
    }
    assert spec["restartPolicy"] in {"OnFailure", "Never"}


def test_orchestrator_reaches_every_evaluator_pod_through_a_headless_service() -> None:
    assert resource("Service", "evaluator")["spec"]["clusterIP"] == "None"
    assert environment("orchestrator")["EVALUATOR_TARGET"] == f"dns:///evaluator:{default_port('evaluator')}"


def test_every_target_names_a_service_on_its_default_port() -> None:
    expected = {
        "ORCHESTRATOR_TARGET": f"orchestrator:{default_port('orchestrator')}",
        "AUDIT_TARGET": f"audit-service:{default_port('audit_service')}",
        "EVALUATOR_TARGET": f"dns:///evaluator:{default_port('evaluator')}",
    }
    for package in SETTINGS:
        for name, value in environment(package).items():
            if name.endswith("_TARGET"):
                assert value == expected[name], f"{package}.{name}"
