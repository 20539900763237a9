"""The Makefile's installs: `make run` installs what the services and the launcher need, `make test` (also after it)
the dev tools."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from civicflow.settings import REPO_ROOT

RUNTIME_INSTALL = "pip install --quiet -e '.[launch]'"
DEV_INSTALL = "pip install --quiet -e '.[launch,dev]'"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A fresh clone as far as make can tell: the Makefile and pyproject.toml, no .venv yet."""
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    return tmp_path


def planned(checkout: Path, target: str) -> str:
    """What `make TARGET` would run, without running it."""
    return subprocess.run(
        ["make", "-n", target], cwd=checkout, capture_output=True, text=True, check=True, timeout=60
    ).stdout


def stamp(checkout: Path, name: str) -> None:
    (checkout / ".venv").mkdir(exist_ok=True)
    (checkout / ".venv" / name).touch()


def test_make_run_from_a_fresh_clone_installs_the_project_without_the_dev_tools(checkout: Path) -> None:
    commands = planned(checkout, "run")

    assert RUNTIME_INSTALL + "\n" in commands and "dev]" not in commands
    assert "python -m civicflow.launch" in commands


@pytest.mark.parametrize("target", ["test", "bench", "proto", "install"])
def test_the_dev_targets_install_the_dev_tools_after_make_run_too(checkout: Path, target: str) -> None:
    stamp(checkout, ".runtime-installed")  # make run has been run: the services' packages are there

    commands = planned(checkout, target)

    assert DEV_INSTALL in commands and RUNTIME_INSTALL + "\n" not in commands


def test_nothing_is_installed_again_once_both_are(checkout: Path) -> None:
    stamp(checkout, ".runtime-installed")
    stamp(checkout, ".installed")

    assert "pip install" not in planned(checkout, "run") + planned(checkout, "test")
