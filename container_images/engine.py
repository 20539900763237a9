"""The container engine on this machine, Docker or Podman, and the settings Podman needs to run here."""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENGINES = ("docker", "podman")
_PID_MAX = Path("/proc/sys/kernel/pid_max")


class EngineError(RuntimeError):
    """No usable container engine, or one of its commands failed."""


@dataclass(frozen=True)
class ContainerEngine:
    """One engine's command line; every command runs with `environment`, which carries Podman's settings."""

    name: str
    executable: str
    environment: Mapping[str, str]

    def run(self, *arguments: str, capture: bool = False, check: bool = True) -> subprocess.CompletedProcess[str]:
        completed = subprocess.run(
            [self.executable, *arguments],
            env=dict(self.environment),
            text=True,
            stdout=subprocess.PIPE if capture else None,
            stderr=subprocess.PIPE if capture else None,
            check=False,
        )
        if check and completed.returncode != 0:
            detail = (completed.stderr or "").strip()[-2000:]
            raise EngineError(f"{self.name} {' '.join(arguments[:2])} failed (exit {completed.returncode}) {detail}")
        return completed

    def output(self, *arguments: str) -> str:
        return self.run(*arguments, capture=True).stdout.strip()

    def has_image(self, reference: str) -> bool:
        return self.run("image", "inspect", reference, capture=True, check=False).returncode == 0

    def build(self, *, dockerfile: Path, context: Path, tag: str, build_arguments: Mapping[str, str]) -> None:
        """Builds with no network at all: whatever the image needs is in the context already."""
        arguments = ["build", "--network", "none", "--file", str(dockerfile), "--tag", tag]
        for name, value in build_arguments.items():
            arguments += ["--build-arg", f"{name}={value}"]
        self.run(*arguments, str(context))


def find_engine(*, state_directory: Path, environment: Mapping[str, str] | None = None) -> ContainerEngine:
    """`CONTAINER_ENGINE` if set, else Docker if its daemon answers, else Podman."""
    environment = dict(os.environ if environment is None else environment)
    wanted = environment.get("CONTAINER_ENGINE")
    if wanted and wanted not in ENGINES:
        raise EngineError(f"CONTAINER_ENGINE must be one of {', '.join(ENGINES)}, not {wanted!r}")
    for name in (wanted,) if wanted else ENGINES:
        executable = shutil.which(name, path=environment.get("PATH"))
        if executable is None or not _answers(executable, environment):
            continue
        if name == "podman":
            environment.update(podman_environment(state_directory, environment))
        return ContainerEngine(name=name, executable=executable, environment=environment)
    raise EngineError(f"no container engine answers: install {' or '.join(ENGINES)} (or start Docker's daemon)")


def _answers(executable: str, environment: Mapping[str, str]) -> bool:
    """Docker's client is often installed without a daemon to talk to; `version` fails then."""
    command = [executable, "version"]
    return subprocess.run(command, env=dict(environment), capture_output=True, check=False).returncode == 0


def podman_environment(state_directory: Path, environment: Mapping[str, str]) -> dict[str, str]:
    """Podman gives every container raised open-file and process limits by default, which runc refuses on kernels
    that do not let a container go past the caller's own hard limits. A containers.conf of ours gives containers
    exactly the caller's limits instead; a CONTAINERS_CONF of your own is left alone."""
    if "CONTAINERS_CONF" in environment:
        return {}
    state_directory.mkdir(parents=True, exist_ok=True)
    configuration = state_directory / "containers.conf"
    configuration.write_text(containers_conf(resource.getrlimit(resource.RLIMIT_NOFILE)[1], _process_limit()))
    return {"CONTAINERS_CONF": str(configuration)}


def containers_conf(open_files: int, processes: int) -> str:
    return (
        "# Written by container_images/engine.py: containers get the limits of the user who starts them.\n"
        "[containers]\n"
        f'default_ulimits = ["nofile={open_files}:{open_files}", "nproc={processes}:{processes}"]\n'
    )


def _process_limit() -> int:
    """The caller's hard limit, but never more than the kernel has process ids: runc refuses a limit above
    that (seen with pid_max 32768), and one above it limits nothing anyway."""
    hard = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    try:
        pid_max = int(_PID_MAX.read_text())
    except (OSError, ValueError):
        pid_max = 32_768
    return pid_max if hard == resource.RLIM_INFINITY else min(hard, pid_max)


def image_size_bytes(engine: ContainerEngine, reference: str) -> int:
    return int(engine.output("image", "inspect", "--format", "{{.Size}}", reference))
