"""The container engine on this machine, Docker or Podman, and the resource limits Podman's containers need here."""

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
class ResourceLimits:
    """Open files and processes a container may have. Podman asks runc for more than the caller's own limits
    by default, which runc refuses on kernels that do not let a container go past them (`error setting rlimits`);
    these are the caller's own, so every container it starts can have them."""

    open_files: int
    processes: int

    @classmethod
    def of_this_process(cls) -> ResourceLimits:
        return cls(open_files=resource.getrlimit(resource.RLIMIT_NOFILE)[1], processes=_process_limit())

    def options(self) -> list[str]:
        """`--ulimit` options of `podman run`, `create` and `build`."""
        return [
            "--ulimit",
            f"nofile={self.open_files}:{self.open_files}",
            "--ulimit",
            f"nproc={self.processes}:{self.processes}",
        ]

    def compose_ulimits(self) -> dict[str, dict[str, int]]:
        """The same as a compose service's `ulimits`."""
        return {
            "nofile": {"soft": self.open_files, "hard": self.open_files},
            "nproc": {"soft": self.processes, "hard": self.processes},
        }


@dataclass(frozen=True)
class ContainerEngine:
    """One engine's command line. `limits` is set for Podman alone: Docker's daemon applies its own."""

    name: str
    executable: str
    environment: Mapping[str, str]
    limits: ResourceLimits | None

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

    def limit_options(self) -> list[str]:
        return self.limits.options() if self.limits else []

    def run_once(
        self, image: str, *command: str, entrypoint: str, user: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`command` in a new container of `image` with no network, removed after; its output captured."""
        arguments = ["run", "--rm", "--network", "none", *self.limit_options(), "--entrypoint", entrypoint]
        if user is not None:
            arguments += ["--user", user]
        return self.run(*arguments, image, *command, capture=True, check=check)

    def has_image(self, reference: str) -> bool:
        return self.run("image", "inspect", reference, capture=True, check=False).returncode == 0

    def build(self, *, dockerfile: Path, context: Path, tag: str, build_arguments: Mapping[str, str]) -> None:
        """Builds with no network at all: whatever the image needs is in the context already."""
        arguments = ["build", "--network", "none", *self.limit_options(), "--file", str(dockerfile), "--tag", tag]
        for name, value in build_arguments.items():
            arguments += ["--build-arg", f"{name}={value}"]
        self.run(*arguments, str(context))


def find_engine(environment: Mapping[str, str] | None = None) -> ContainerEngine:
    """`CONTAINER_ENGINE` if set, else Docker if its daemon answers, else Podman."""
    environment = dict(os.environ if environment is None else environment)
    wanted = environment.get("CONTAINER_ENGINE")
    if wanted and wanted not in ENGINES:
        raise EngineError(f"CONTAINER_ENGINE must be one of {', '.join(ENGINES)}, not {wanted!r}")
    for name in (wanted,) if wanted else ENGINES:
        executable = shutil.which(name, path=environment.get("PATH"))
        if executable is None or not _answers(executable, environment):
            continue
        limits = ResourceLimits.of_this_process() if name == "podman" else None
        return ContainerEngine(name=name, executable=executable, environment=environment, limits=limits)
    raise EngineError(f"no container engine answers: install {' or '.join(ENGINES)} (or start Docker's daemon)")


def _answers(executable: str, environment: Mapping[str, str]) -> bool:
    """Docker's client is often installed without a daemon to talk to; `version` fails then."""
    command = [executable, "version"]
    return subprocess.run(command, env=dict(environment), capture_output=True, check=False).returncode == 0


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
