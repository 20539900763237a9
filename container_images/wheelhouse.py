"""The wheelhouse an image installs from with `--no-index`: Civicflow's own wheel, built on the host, and every
dependency's wheel for the image's Python, fetched with the host's own package index configuration."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from container_images.engine import EngineError
from container_images.target import PythonTarget


def build_wheelhouse(*, project: Path, wheelhouse: Path, target: PythonTarget) -> Path:
    """Fills `wheelhouse` afresh and answers Civicflow's wheel in it. Only binary wheels are taken, so nothing
    is compiled in the image and every file matches the image's interpreter, not the host's."""
    if wheelhouse.exists():
        shutil.rmtree(wheelhouse)
    wheelhouse.mkdir(parents=True)
    with tempfile.TemporaryDirectory(prefix="civicflow-source-") as scratch:
        source = _copy_source(project, Path(scratch) / "source")
        _pip("wheel", "--no-deps", "--wheel-dir", str(wheelhouse), str(source))
    (own_wheel,) = wheelhouse.glob("civicflow-*.whl")
    _pip("download", "--dest", str(wheelhouse), *target.pip_arguments(), str(own_wheel))
    return own_wheel


def _copy_source(project: Path, destination: Path) -> Path:
    """The files git tracks, as they are in the working tree, and nothing else: a wheel built in the checkout
    itself would also take setuptools' leftovers in build/lib (a deleted migration, say) and untracked files."""
    listed = subprocess.run(["git", "-C", str(project), "ls-files", "-z", "--cached"], capture_output=True, check=False)
    if listed.returncode != 0:
        raise EngineError("the image is built from a git checkout: git ls-files failed here")
    for name in filter(None, listed.stdout.decode().split("\0")):
        origin = project / name
        # A tracked file deleted in the working tree is not part of what is built.
        if origin.is_file():
            target = destination / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(origin, target)
    return destination


def _pip(*arguments: str) -> None:
    command = [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check", *arguments]
    if subprocess.run(command, check=False).returncode != 0:
        raise EngineError(f"pip {arguments[0]} failed: see its output above")
