"""Choosing Docker or Podman, and the resource limits that let Podman's containers start under runc here."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from container_images.engine import EngineError, ResourceLimits, find_engine


def test_an_unknown_engine_is_refused_by_name() -> None:
    with pytest.raises(EngineError, match="CONTAINER_ENGINE must be one of docker, podman"):
        find_engine({"CONTAINER_ENGINE": "lxc", "PATH": ""})


def test_no_engine_on_the_path_is_an_error_saying_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="install docker or podman"):
        find_engine({"PATH": str(tmp_path)})


def test_a_docker_client_without_a_daemon_is_passed_over(tmp_path: Path) -> None:
    client = tmp_path / "docker"
    client.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    client.chmod(0o755)
    with pytest.raises(EngineError, match="no container engine answers"):
        find_engine({"PATH": str(tmp_path)})


def test_containers_get_the_callers_own_limits_never_more_processes_than_the_kernel_has_ids() -> None:
    limits = ResourceLimits.of_this_process()
    assert limits.open_files == resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert 0 < limits.processes <= int(Path("/proc/sys/kernel/pid_max").read_text())
    assert limits.options() == [
        "--ulimit",
        f"nofile={limits.open_files}:{limits.open_files}",
        "--ulimit",
        f"nproc={limits.processes}:{limits.processes}",
    ]
    assert limits.compose_ulimits()["nproc"] == {"soft": limits.processes, "hard": limits.processes}
