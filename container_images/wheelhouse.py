"""The wheelhouse an image installs from with `--no-index`: Civicflow's own wheel, built on the host, and every
dependency's wheel for the image's Python, fetched with the host's own package index configuration."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from container_images.engine import EngineError
from container_images.target import PythonTarget


def build_wheelhouse(*, project: Path, wheelhouse: Path, target: PythonTarget) -> Path:
    """Fills `wheelhouse` afresh and answers Civicflow's wheel in it. Only binary wheels are taken, so nothing
    is compiled in the image and every file matches the image's interpreter, not the host's."""
    if wheelhouse.exists():
        shutil.rmtree(wheelhouse)
    wheelhouse.mkdir(parents=True)
    _pip("wheel", "--no-deps", "--wheel-dir", str(wheelhouse), str(project))
    (own_wheel,) = wheelhouse.glob("civicflow-*.whl")
    _pip("download", "--dest", str(wheelhouse), *target.pip_arguments(), str(own_wheel))
    return own_wheel


def _pip(*arguments: str) -> None:
    command = [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check", *arguments]
    if subprocess.run(command, check=False).returncode != 0:
        raise EngineError(f"pip {arguments[0]} failed: see its output above")
