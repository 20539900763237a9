"""Choosing Docker or Podman, and the containers.conf that lets Podman's containers start under runc here."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from container_images.engine import EngineError, find_engine, podman_environment


def test_an_unknown_engine_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="CONTAINER_ENGINE must be one of docker, podman"):
        find_engine(state_directory=tmp_path, environment={"CONTAINER_ENGINE": "lxc", "PATH": ""})


def test_no_engine_on_the_path_is_an_error_saying_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="install docker or podman"):
        find_engine(state_directory=tmp_path, environment={"PATH": str(tmp_path)})


def test_podman_containers_get_the_callers_own_limits(tmp_path: Path) -> None:
    environment = podman_environment(tmp_path, {})
    written = Path(environment["CONTAINERS_CONF"]).read_text()
    open_files = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    assert f'"nofile={open_files}:{open_files}"' in written
    processes = int(written.split('"nproc=')[1].split(":")[0])
    assert 0 < processes <= int(Path("/proc/sys/kernel/pid_max").read_text())


def test_a_containers_conf_of_your_own_is_left_alone(tmp_path: Path) -> None:
    assert podman_environment(tmp_path, {"CONTAINERS_CONF": "/etc/mine.conf"}) == {}
    assert list(tmp_path.iterdir()) == []
