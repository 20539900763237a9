"""docker-compose.yml for real: the images `make image` builds, three evaluators, real tokens from the compose
file's token tool, through the published gateway; an evaluator stopped mid-analysis; nothing left after `down`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx2
import pytest

from container_images.debian_bases import POSTGRES_IMAGE, PYTHON_BASE_IMAGE
from container_images.engine import image_size_bytes
from tests.containers.conftest import EVALUATORS
from tests.support.containers import ONE_OFF, ComposeProject
from tests.support.eligibility_oracle import SCHEME_RULES, expected_decision
from tests.support.local_system import run_of, start_impact_analysis, wait_for_end, wait_for_progress

# The first test's time includes building every image from Debian's packages and starting the compose file.
pytestmark = [pytest.mark.containers, pytest.mark.timeout(900)]

POPULATION = 200_000
# The image holds no key, certificate or password: they come from the compose file's volumes at run time.
SECRET_MARKERS = ("PRIVATE KEY-----", "PASSWORD=", "password=")
# A PEM private key's first line (libraries that write keys hold the words too, but never at a line's start).
PEM_PRIVATE_KEY = "^-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY-----$"
# What Civicflow's image may add to its base (measured 203 MB: 382 MB on the Debian-built base of 179 MB): a guard
# against a build that starts carrying the wheelhouse, a compiler, the sources or the launcher's PostgreSQL.
ADDED_SIZE_LIMIT = 240_000_000


@pytest.fixture(scope="module")
def gateway(deployment: ComposeProject) -> Iterator[str]:
    yield f"http://127.0.0.1:{deployment.variables['CIVICFLOW_HTTP_PORT']}"


@pytest.fixture(scope="module")
def caseworker(deployment: ComposeProject) -> str:
    return deployment.token(subject="casey", role="caseworker")


@pytest.fixture(scope="module")
def analyst(deployment: ComposeProject) -> str:
    return deployment.token(subject="ana", role="analyst")


@pytest.fixture(scope="module")
def first_analysis(deployment: ComposeProject, gateway: str, analyst: str) -> dict[str, Any]:
    """A 200,000-citizen analysis with every evaluator up: the report a second one must match."""
    instance_id = start_impact_analysis(gateway, analyst, POPULATION)
    run = wait_for_end(gateway, analyst, instance_id)
    assert run["status"] == "completed", run
    return report(gateway, analyst, instance_id)


def report(gateway: str, token: str, instance_id: str) -> dict[str, Any]:
    response = httpx2.get(f"{gateway}/workflows/report/{instance_id}", headers=bearer(token), timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def rows_evaluated(deployment: ComposeProject) -> dict[str, float]:
    return {
        container: deployment.metrics(container).value("civicflow_evaluator_rows_total", rpc="EvaluateStream")
        for container in deployment.containers("evaluator", running_only=True)
    }


def test_every_service_is_up_and_healthy_with_three_evaluators(deployment: ComposeProject) -> None:
    assert len(deployment.containers("evaluator", running_only=True)) == EVALUATORS
    for service in ("postgres", "audit_service", "orchestrator", "gateway"):
        (container,) = deployment.containers(service, running_only=True)
        assert deployment.is_healthy(container), service


def test_an_eligibility_check_and_its_appeal_through_the_gateway(
    deployment: ComposeProject, gateway: str, caseworker: str
) -> None:
    checked = httpx2.post(
        f"{gateway}/workflows/execute",
        json={
            "template_id": "eligibility_check",
            "inputs": {"citizen_id": "CIT-0000042", "scheme_name": "scheme_alpha"},
        },
        headers=bearer(caseworker),
        timeout=30,
    )
    assert checked.status_code == 200, checked.text
    run = checked.json()
    assert run["status"] == "completed", run
    citizen = run["outputs"]["citizen"]
    assert run["outputs"]["decision"]["decision"] == expected_decision(citizen, SCHEME_RULES["scheme_alpha"])
    assert run_of(gateway, caseworker, run["instance_id"])["actor"] == "casey"
    appealed = httpx2.post(
        f"{gateway}/workflows/appeal",
        json={"original_instance_id": run["instance_id"], "new_data": {"income": 1, "age": 30}},
        headers=bearer(caseworker),
        timeout=30,
    )
    assert appealed.status_code == 200, appealed.text
    appeal = appealed.json()
    assert appeal["status"] == "completed" and appeal["original_instance_id"] == run["instance_id"]
    # Income 1 at age 30 is within every rule of scheme_alpha.
    assert appeal["new_decision"] == "ELIGIBLE"
    assert run_of(gateway, caseworker, appeal["new_instance_id"])["appealed_instance_id"] == run["instance_id"]
    unauthenticated = httpx2.get(f"{gateway}/workflows/{run['instance_id']}", timeout=10)
    assert unauthenticated.status_code == 401


def test_every_evaluator_replica_serves_part_of_an_analysis(
    deployment: ComposeProject, first_analysis: dict[str, Any]
) -> None:
    assert first_analysis["total"] == POPULATION and first_analysis["failed"] == 0
    served = rows_evaluated(deployment)
    assert len(served) == EVALUATORS
    assert all(rows > 0 for rows in served.values()), served
    # Every citizen once (the baseline and the proposal in one call), more only if a batch was retried.
    assert sum(served.values()) >= POPULATION


def test_an_analysis_completes_with_the_same_digest_when_an_evaluator_stops_midway(
    deployment: ComposeProject, gateway: str, analyst: str, first_analysis: dict[str, Any]
) -> None:
    stopped = deployment.containers("evaluator", running_only=True)[0]
    instance_id = start_impact_analysis(gateway, analyst, POPULATION)
    wait_for_progress(gateway, analyst, instance_id)
    # Stopped by hand, so its restart policy leaves it stopped.
    deployment.engine.run("stop", "--time", "0", stopped, capture=True)
    during = run_of(gateway, analyst, instance_id)
    assert during["status"] == "running" and during["progress"]["items_done"] < POPULATION, "stopped too late"
    run = wait_for_end(gateway, analyst, instance_id)
    assert run["status"] == "completed", run
    assert run["progress"]["items_done"] == POPULATION
    again = report(gateway, analyst, instance_id)
    assert again["results_digest"] == first_analysis["results_digest"]
    assert stopped not in deployment.containers("evaluator", running_only=True)


def test_the_services_run_as_non_root_on_read_only_root_filesystems(deployment: ComposeProject) -> None:
    for container in deployment.containers():
        service = deployment.service_of(container)
        if service in ONE_OFF or container not in deployment.containers(running_only=True):
            continue
        details: Any = deployment.inspect(container)
        # The user the service's own process runs as (postgres:16 starts as root and steps down to postgres).
        status = deployment.execute(container, "cat", "/proc/1/status")
        (uids,) = [line.split()[1:] for line in status.splitlines() if line.startswith("Uid:")]
        assert "0" not in uids, service
        if service != "postgres":
            assert details["HostConfig"]["ReadonlyRootfs"] is True, service
            # A directory of the image the service's user owns: only the read-only root keeps it out.
            written = deployment.engine.run(
                "exec", container, "touch", "/var/lib/civicflow/written", capture=True, check=False
            )
            assert "Read-only file system" in written.stderr, (service, written.stderr)


def test_each_service_sees_its_own_credentials_alone(deployment: ComposeProject) -> None:
    for service in ("audit_service", "orchestrator", "gateway"):
        (container,) = deployment.containers(service, running_only=True)
        keys = deployment.execute(container, "sh", "-c", "grep -l 'PRIVATE KEY' /run/secrets/civicflow/* || true")
        assert keys.split() == ["/run/secrets/civicflow/key.pem"], service
    evaluator = deployment.containers("evaluator", running_only=True)[0]
    files = deployment.execute(evaluator, "ls", "/run/secrets/civicflow").split()
    assert "database-password" not in files and "token-public-key.pem" not in files


def test_the_image_carries_no_secrets_and_runs_as_a_numeric_non_root_user(
    deployment: ComposeProject, images: dict[str, str]
) -> None:
    image = deployment.variables["CIVICFLOW_IMAGE"]
    (inspected,) = json.loads(deployment.engine.output("image", "inspect", image))
    assert inspected["Config"]["User"] == "10001:10001"
    environment = " ".join(inspected["Config"].get("Env") or [])
    history = deployment.engine.output("image", "history", "--no-trunc", "--format", "{{.CreatedBy}}", image)
    for marker in SECRET_MARKERS:
        assert marker not in environment and marker not in history, marker
    # Every file of both images, read as root from a container that never starts a service: grep's status 1 is
    # "no file matched", 0 a match and 2 a scan that failed.
    for scanned in (image, deployment.variables["POSTGRES_IMAGE"]):
        scan = deployment.engine.run_once(
            *[scanned, "-rlIE", "-e", PEM_PRIVATE_KEY],
            *["--exclude-dir=proc", "--exclude-dir=sys", "--exclude-dir=dev", "/"],
            entrypoint="grep",
            user="0",
            check=False,
        )
        assert (scan.returncode, scan.stdout) == (1, ""), (scanned, scan.stdout, scan.stderr[-500:])
    if images["BASE_IMAGE"] == PYTHON_BASE_IMAGE and images["POSTGRES_IMAGE"] == POSTGRES_IMAGE:
        # The Debian bases forget the mirrors they came from, whose addresses may carry credentials.
        for scanned in (image, images["POSTGRES_IMAGE"]):
            sources = deployment.engine.run_once(
                scanned, "/etc/apt", "-name", "sources.list*", "-type", "f", entrypoint="find"
            ).stdout
            assert sources == "", (scanned, sources)
    added = int(inspected["Size"]) - image_size_bytes(deployment.engine, images["BASE_IMAGE"])
    assert 0 < added < ADDED_SIZE_LIMIT, added


def test_down_removes_every_container_and_volume(deployment: ComposeProject) -> None:
    assert deployment.volumes(), "the project made no volume to remove"
    deployment.down()
    assert deployment.containers() == []
    assert deployment.volumes() == []
