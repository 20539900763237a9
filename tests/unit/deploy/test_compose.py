"""docker-compose.yml is valid Compose and works on the trust boundary: run here without Docker (each volume a
directory, each container's paths resolved through its mounts), its credentials job gives every service its own
identity and nothing of anyone else's, the database and token settings fit what the jobs make, and the services
wait for the jobs, probe their plaintext health ports and publish the orchestrator on loopback alone.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.engine import make_url

from civicflow.auth.local_issuer import LocalTokenIssuer
from civicflow.auth.principals import Role
from civicflow.auth.tokens import TokenSettings, TokenVerifier
from civicflow.database import DatabaseSettings
from civicflow.database_setup import DEFAULT_PREFIX, role_names
from civicflow.local_pki import ensure_local_pki
from civicflow.settings import REPO_ROOT
from civicflow.tls import Identity
from container_images.civicflow_image import DEFAULT_BASE_IMAGE, DEFAULT_TAG
from tests.support.compose import COMPOSE_FILE, OWN_CA_FILE, Volumes, load_compose, mounts
from tests.support.service_settings import IDENTITIES, PORT_FIELDS, SETTINGS, default_port, settings_keys

SCHEMA_FILE = REPO_ROOT / "deploy" / "schemas" / "compose-spec.json"
JOBS = {"credentials": "civicflow.launch.credentials", "database-setup": "civicflow.database_setup"}
# The database role of each service with tables (civicflow/database_setup.py).
DATABASE_ROLES = {"orchestrator": "orchestrator", "audit_service": "audit"}
GRPC_SERVICES = sorted(set(SETTINGS) - {"gateway"})
OBSERVABILITY = ("prometheus", "grafana")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_compose()


@pytest.fixture
def volumes(compose: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Volumes:
    """The compose file's volumes after its credentials job ran, as on a first `docker compose up`."""
    volumes = Volumes(compose, tmp_path / "volumes")
    volumes.run_credentials_job()
    capsys.readouterr()
    return volumes


def settings_of(service: str, volumes: Volumes, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The service's settings as its container builds them from its environment."""
    for name in settings_keys(service):
        monkeypatch.delenv(name, raising=False)
    for name, value in volumes.environment(service).items():
        monkeypatch.setenv(name, value)
    return SETTINGS[service]()


def depends_on(compose: dict[str, Any], service: str) -> dict[str, str]:
    """Every service `service` waits for, directly or through others, with the condition it waits on last."""
    waited: dict[str, str] = {}
    pending = [service]
    while pending:
        for dependency, how in compose["services"][pending.pop()].get("depends_on", {}).items():
            if dependency not in waited:
                waited[dependency] = how["condition"]
                pending.append(dependency)
    return waited


def test_compose_file_is_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    # The schema names draft 7 by a URI (no trailing '#') that jsonschema does not recognise.
    assert schema["$schema"].rstrip("#") == "https://json-schema.org/draft-07/schema"
    jsonschema.Draft7Validator.check_schema(schema)
    validator = jsonschema.Draft7Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda error: list(error.absolute_path))
    assert not errors, "\n".join(f"{list(error.absolute_path)}: {error.message}" for error in errors)


def test_compose_runs_postgres_16_the_four_services_their_one_off_jobs_and_a_token_tool(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert set(services) == {"postgres", *SETTINGS, *JOBS, "token", *OBSERVABILITY}
    assert services["postgres"]["image"] == "postgres:16"
    assert "healthcheck" in services["postgres"]
    assert any(volume.endswith(":/var/lib/postgresql/data") for volume in services["postgres"]["volumes"])
    # The credentials job runs once; the database setup again until it succeeds (it waits for what it needs).
    assert services["credentials"]["restart"] == "no"
    assert services["database-setup"]["restart"] == "on-failure:5"
    assert set(JOBS) == {"credentials", "database-setup"}
    # `docker compose up` leaves the tool out; `docker compose run --rm token ...` runs it.
    assert services["token"]["profiles"] == ["tools"]


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_each_service_runs_its_package_entry_point(compose: dict[str, Any], service: str) -> None:
    command = compose["services"][service]["command"]
    assert command == ["python", "-m", service]
    assert importlib.util.find_spec(f"{service}.__main__") is not None, f"{service} has no __main__ module"


@pytest.mark.parametrize("job", sorted(JOBS))
def test_each_job_runs_its_module(compose: dict[str, Any], job: str) -> None:
    command = compose["services"][job]["command"]
    assert command[:3] == ["python", "-m", JOBS[job]]
    assert importlib.util.find_spec(JOBS[job]) is not None


@pytest.mark.parametrize("service", sorted([*SETTINGS, *JOBS, "token"]))
def test_each_service_and_job_runs_the_image_make_image_builds_on_a_read_only_root(
    compose: dict[str, Any], service: str
) -> None:
    definition = compose["services"][service]
    assert definition["image"] == DEFAULT_TAG
    assert "build" not in definition, "the image is built by make image, from a wheelhouse, never by compose"
    assert definition["read_only"] is True and definition["tmpfs"] == ["/tmp"]
    restart = {"database-setup": "on-failure:5"}.get(service, "unless-stopped" if service in SETTINGS else "no")
    assert definition["restart"] == restart


def test_the_images_are_variables_defaulting_to_civicflows_and_postgres_16() -> None:
    chosen = load_compose(environment={"CIVICFLOW_IMAGE": "registry.example/civicflow:1", "POSTGRES_IMAGE": "pg:x"})
    assert chosen["services"]["gateway"]["image"] == "registry.example/civicflow:1"
    assert chosen["services"]["postgres"]["image"] == "pg:x"
    assert load_compose()["services"]["postgres"]["image"] == "postgres:16"


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


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_each_service_has_its_own_certificate_and_sees_no_other_private_key(
    volumes: Volumes, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity = Identity.load(settings_of(service, volumes, monkeypatch))
    certificate = x509.load_pem_x509_certificate(identity.certificate)
    key = serialization.load_pem_private_key(identity.key, password=None)
    authority = x509.load_pem_x509_certificate(identity.ca)
    names = certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)

    assert [name.value for name in names] == [IDENTITIES[service]]
    assert key.public_key() == certificate.public_key()
    certificate.verify_directly_issued_by(authority)
    own_key = identity.key
    seen = {path.read_bytes() for path in volumes.visible_files(service)}
    assert [content for content in seen if b"PRIVATE KEY" in content and content != own_key] == []


def test_the_services_volumes_are_written_by_the_credentials_job_and_read_only_to_them(
    compose: dict[str, Any],
) -> None:
    written = {mount.volume for mount in mounts(compose["services"]["credentials"]) if not mount.read_only}
    for service in SETTINGS:
        for mount in mounts(compose["services"][service]):
            if mount.volume in written:
                assert mount.read_only, f"{service} may change {mount.volume}"
    # The authority's keys (its CA key, the token issuer's key) reach no service.
    holders = {
        name
        for name, definition in compose["services"].items()
        if any(mount.volume == "demo-authority" for mount in mounts(definition))
    }
    assert holders == {"credentials", "token"}


TOKEN_VERIFIERS = sorted(service for service in SETTINGS if issubclass(SETTINGS[service], TokenSettings))


@pytest.mark.parametrize("service", TOKEN_VERIFIERS)
def test_services_that_verify_tokens_accept_a_token_of_the_token_tool(
    volumes: Volumes, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    tool = volumes.environment("token")
    token = LocalTokenIssuer(Path(tool["CIVICFLOW_TOKEN_ISSUER_KEY"])).issue("alice", [Role.CASEWORKER])
    verifier = TokenVerifier(settings_of(service, volumes, monkeypatch))

    principal = verifier.verify(token)

    assert (principal.subject, principal.roles) == ("alice", frozenset({Role.CASEWORKER}))


@pytest.mark.parametrize("service", sorted(DATABASE_ROLES))
def test_services_with_tables_log_in_as_their_own_role_with_the_password_the_setup_sets(
    volumes: Volumes, service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = settings_of(service, volumes, monkeypatch)
    assert isinstance(settings, DatabaseSettings)
    login = make_url(settings.database_login_url())
    setup = volumes.compose["services"]["database-setup"]["command"]
    passwords_file = volumes.host_path("database-setup", setup[setup.index("--passwords-file") + 1])
    assert passwords_file is not None
    passwords = json.loads(passwords_file.read_text())
    roles = role_names(DEFAULT_PREFIX)

    assert login.username == roles[DATABASE_ROLES[service]] != roles["owner"]
    assert login.password == passwords[DATABASE_ROLES[service]]
    assert (login.host, login.port, login.database) == ("postgres", 5432, "civicflow")


def test_the_database_setup_logs_in_as_the_superuser_postgres_was_initialised_with(volumes: Volumes) -> None:
    postgres = volumes.environment("postgres")
    setup = volumes.environment("database-setup")
    admin = make_url(setup["DATABASE_ADMIN_URL"])

    assert (admin.username, admin.database, admin.host) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_DB"],
        "postgres",
    )
    assert admin.password is None
    assert setup["DATABASE_ADMIN_PASSWORD_FILE"] == postgres["POSTGRES_PASSWORD_FILE"]
    assert Path(postgres["POSTGRES_PASSWORD_FILE"]).read_text()


def test_no_password_is_written_in_the_compose_file_or_the_image(compose: dict[str, Any]) -> None:
    for name, definition in compose["services"].items():
        for variable, value in definition.get("environment", {}).items():
            assert "PASSWORD" not in variable or variable.endswith("_FILE"), f"{name}.{variable}"
            if "://" in str(value):
                assert make_url(str(value)).password is None, f"{name}.{variable}"
    assert "PASSWORD" not in (REPO_ROOT / "deploy" / "Dockerfile").read_text()


def test_every_service_waits_for_the_jobs_that_make_what_it_reads(compose: dict[str, Any]) -> None:
    written = {mount.volume for mount in mounts(compose["services"]["credentials"]) if not mount.read_only}
    for name, definition in compose["services"].items():
        if name == "credentials":
            continue
        if any(mount.volume in written for mount in mounts(definition)):
            assert depends_on(compose, name).get("credentials") == "service_completed_successfully", name
    for service in DATABASE_ROLES:
        assert depends_on(compose, service)["database-setup"] == "service_completed_successfully"
    assert depends_on(compose, "database-setup")["postgres"] == "service_healthy"
    orchestrator = compose["services"]["orchestrator"]["depends_on"]
    assert orchestrator["audit_service"] == orchestrator["evaluator"] == {"condition": "service_healthy"}
    assert compose["services"]["gateway"]["depends_on"] == {"orchestrator": {"condition": "service_healthy"}}


def test_only_the_gateway_and_the_orchestrator_publish_a_port_and_the_orchestrator_on_loopback_alone(
    compose: dict[str, Any],
) -> None:
    published = {name: definition.get("ports", []) for name, definition in compose["services"].items()}
    # Prometheus and Grafana, of the observability profile, on this machine's loopback alone.
    assert published.pop("prometheus") == ["127.0.0.1:9090:9090"]
    assert published.pop("grafana") == ["127.0.0.1:3000:3000"]
    gateway, orchestrator = default_port("gateway"), default_port("orchestrator")
    assert published.pop("gateway") == [f"{gateway}:{gateway}"]
    assert published.pop("orchestrator") == [f"127.0.0.1:{orchestrator}:{orchestrator}"]
    # A host port on the evaluator would also stop `--scale evaluator=3` at the second replica.
    assert published == dict.fromkeys(published, [])


def test_prometheus_and_grafana_start_only_with_the_observability_profile(compose: dict[str, Any]) -> None:
    for service in OBSERVABILITY:
        assert compose["services"][service]["profiles"] == ["observability"], service
        mounted = [volume.split(":")[0] for volume in compose["services"][service]["volumes"]]
        for source in mounted:
            if source.startswith("./"):
                assert (REPO_ROOT / source).exists(), source


def test_prometheus_scrapes_every_service_at_its_metrics_port(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((REPO_ROOT / "deploy" / "prometheus" / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    (discovery,) = job["dns_sd_configs"]
    assert sorted(discovery["names"]) == sorted(SETTINGS)
    assert job["metrics_path"] == "/metrics"
    for service in SETTINGS:
        assert int(compose["services"][service]["environment"]["METRICS_PORT"]) == discovery["port"], service


@pytest.mark.parametrize("service", GRPC_SERVICES)
def test_grpc_healthchecks_ask_the_plaintext_health_port(compose: dict[str, Any], service: str) -> None:
    definition = compose["services"][service]
    settings = SETTINGS[service](**{name.lower(): value for name, value in definition["environment"].items()})
    assert settings.health_port is not None and settings.health_port != getattr(settings, PORT_FIELDS[service])
    assert definition["healthcheck"]["test"] == [
        "CMD",
        "python",
        "-m",
        "civicflow.health_probe",
        f"localhost:{settings.health_port}",
    ]


def test_the_gateway_healthcheck_asks_healthz_on_its_port(compose: dict[str, Any]) -> None:
    test = " ".join(compose["services"]["gateway"]["healthcheck"]["test"])
    assert f"http://localhost:{default_port('gateway')}/healthz" in test


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_port_settings_are_the_defaults(compose: dict[str, Any], service: str) -> None:
    definition = compose["services"][service]
    assert int(definition["environment"][PORT_FIELDS[service].upper()]) == default_port(service)


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


def test_image_runs_as_non_root_and_ships_templates_schemes_and_the_command_line(compose: dict[str, Any]) -> None:
    dockerfile = (REPO_ROOT / "deploy" / "Dockerfile").read_text()
    stages = [line for line in dockerfile.splitlines() if line.startswith("FROM ")]
    assert len(stages) >= 2, "the image is built in a builder stage and a slim runtime stage"
    assert all(stage.startswith("FROM ${BASE_IMAGE} ") for stage in stages)
    assert f"ARG BASE_IMAGE={DEFAULT_BASE_IMAGE}" in dockerfile
    runtime = dockerfile[dockerfile.rindex("FROM ") :]
    user_lines = [line for line in runtime.splitlines() if line.startswith("USER ")]
    assert user_lines and not user_lines[-1].split()[1].startswith(("root", "0"))
    assert "COPY templates/" in runtime and "COPY schemes/" in runtime
    # Everything Python, the token tool's `civicflow` command included, comes from the host-made wheelhouse alone.
    installs = [line for line in dockerfile.splitlines() if "pip install" in line]
    assert installs and all("--no-index --find-links /wheelhouse" in line for line in installs)
    orchestrator = compose["services"]["orchestrator"]["environment"]
    assert f"TEMPLATES_DIR={orchestrator['TEMPLATES_DIR']}" in runtime
    assert f"SCHEMES_DIR={orchestrator['SCHEMES_DIR']}" in runtime


def test_the_image_makes_the_mount_points_it_writes_its_users_so_that_new_volumes_are_writable(
    compose: dict[str, Any],
) -> None:
    runtime = (REPO_ROOT / "deploy" / "Dockerfile").read_text().replace("\\\n", " ")
    (made,) = [line.split() for line in runtime.splitlines() if line.startswith("RUN mkdir -p /var/lib/civicflow/")]
    writable = {
        str(mount.target)
        for definition in compose["services"].values()
        if definition.get("image") == DEFAULT_TAG
        for mount in mounts(definition)
        if not mount.read_only
    }
    assert writable and all(target.startswith("/var/lib/civicflow/") for target in writable)
    assert writable <= set(made)
    assert "10001:10001" in made[made.index("chown") :]


@pytest.fixture
def own_authority(tmp_path: Path) -> Path:
    """An authority of your own, with each service's certificate, in the layout the override reads (make run's)."""
    ensure_local_pki(tmp_path / "certificates")
    return tmp_path / "certificates"


def test_the_own_ca_override_is_valid_compose_and_names_only_the_services(own_authority: Path) -> None:
    override = load_compose(OWN_CA_FILE, environment={"CIVICFLOW_CERTIFICATES": str(own_authority)})
    merged = load_compose(COMPOSE_FILE, OWN_CA_FILE, environment={"CIVICFLOW_CERTIFICATES": str(own_authority)})
    validator = jsonschema.Draft7Validator(json.loads(SCHEMA_FILE.read_text()))

    assert [error.message for error in validator.iter_errors(override)] == []
    assert [error.message for error in validator.iter_errors(merged)] == []
    assert set(override["services"]) == set(SETTINGS)
    assert all(Path(secret["file"]).is_file() for secret in merged["secrets"].values())


@pytest.mark.parametrize("service", sorted(SETTINGS))
def test_with_the_own_ca_override_each_service_has_its_certificate_from_your_authority_alone(
    own_authority: Path,
    tmp_path: Path,
    service: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    merged = load_compose(COMPOSE_FILE, OWN_CA_FILE, environment={"CIVICFLOW_CERTIFICATES": str(own_authority)})
    volumes = Volumes(merged, tmp_path / "volumes")
    volumes.run_credentials_job()
    capsys.readouterr()

    identity = Identity.load(settings_of(service, volumes, monkeypatch))
    certificate = x509.load_pem_x509_certificate(identity.certificate)

    assert identity.ca == (own_authority / "ca.pem").read_bytes()
    certificate.verify_directly_issued_by(x509.load_pem_x509_certificate(identity.ca))
    assert [name.value for name in certificate.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)] == [
        IDENTITIES[service]
    ]
    # Of your authority's files, the service is given the CA's certificate and its own certificate and key.
    mine = {path.read_bytes() for path in own_authority.iterdir()}
    seen = {path.read_bytes() for path in volumes.visible_files(service)} & mine
    assert seen == {identity.ca, identity.certificate, identity.key}
