"""The images built as `make image` and `make base-image` build them, and docker-compose.yml up with three
evaluators: for the container tests, which need Docker or Podman (`.ci/run` installs Podman)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from typing import NoReturn

import pytest

from civicflow.launch.settings import free_ports
from civicflow.settings import REPO_ROOT
from container_images import debian_bases
from container_images.civicflow_image import build_image
from container_images.engine import ContainerEngine, EngineError, find_engine
from tests.support.compose import load_compose
from tests.support.containers import ComposeProject, write_limits_override

# `.ci/run` sets it: there, a machine without a container engine is a failure, not a reason to skip.
REQUIRED = os.environ.get("CIVICFLOW_CONTAINER_TESTS") == "required"
IMAGE_TAG = "localhost/civicflow:container-test"
EVALUATORS = 3
# What `up` starts: every service outside a profile (the token tool and the observability pair are in one).
SERVICES = [name for name, definition in load_compose()["services"].items() if "profiles" not in definition]


def unavailable(reason: str) -> NoReturn:
    if REQUIRED:
        pytest.fail(f"CIVICFLOW_CONTAINER_TESTS=required, but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def engine() -> ContainerEngine:
    try:
        return find_engine()
    except EngineError as error:
        unavailable(f"no container engine: {error}")


@pytest.fixture(scope="session")
def images(engine: ContainerEngine) -> dict[str, str]:
    """Civicflow's image on the Debian-built base, and the Debian-built PostgreSQL: what an air-gapped network
    builds. BASE_IMAGE and POSTGRES_IMAGE name others (python:3.12-slim, postgres:16) where they can be had."""
    base, postgres = os.environ.get("BASE_IMAGE"), os.environ.get("POSTGRES_IMAGE")
    if not (base and postgres) and shutil.which("mmdebstrap") is None:
        unavailable("mmdebstrap is not installed, and BASE_IMAGE and POSTGRES_IMAGE name no images to use instead")
    # Bases built before are kept (they change only with container_images/debian_bases.py): remove them to rebuild.
    base = base or debian_bases.build_python_base(engine, reuse=True)
    postgres = postgres or debian_bases.build_postgres(engine, project=REPO_ROOT, reuse=True)
    build_image(engine, base_image=base, tag=IMAGE_TAG)
    return {"CIVICFLOW_IMAGE": IMAGE_TAG, "POSTGRES_IMAGE": postgres, "BASE_IMAGE": base}


@pytest.fixture(scope="module")
def deployment(
    engine: ContainerEngine, images: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ComposeProject]:
    """`compose up --scale evaluator=3`, every healthcheck passing; `down --volumes` after."""
    http_port, grpc_port = free_ports(2)
    project = ComposeProject(
        engine=engine,
        override=write_limits_override(engine, tmp_path_factory.mktemp("compose")),
        name=f"civicflow-test-{uuid.uuid4().hex[:8]}",
        variables={
            "CIVICFLOW_IMAGE": images["CIVICFLOW_IMAGE"],
            "POSTGRES_IMAGE": images["POSTGRES_IMAGE"],
            "CIVICFLOW_HTTP_PORT": str(http_port),
            "CIVICFLOW_GRPC_PORT": str(grpc_port),
        },
    )
    try:
        project.up(evaluators=EVALUATORS)
        project.wait_until_healthy(SERVICES)
        yield project
    finally:
        project.down()
