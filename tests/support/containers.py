"""docker-compose.yml run for real by Docker or Podman: a project of its own, its containers, their health, their
metrics, and a teardown that leaves nothing behind."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from civicflow.settings import REPO_ROOT
from container_images.engine import ContainerEngine
from tests.support.compose import COMPOSE_FILE, load_compose
from tests.support.scraped_metrics import Scrape, parse_exposition

# The label both Docker Compose and podman-compose put on everything a project makes.
PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
# Jobs and tools run once and exit; every other service of the file runs on and has a healthcheck.
ONE_OFF = frozenset({"credentials", "database-setup", "token"})
METRICS_PORT = 9464


@dataclass
class ComposeProject:
    """One `compose -p <name>` project of docker-compose.yml, with the environment its variables are read from."""

    engine: ContainerEngine
    name: str
    variables: Mapping[str, str]
    # A compose file merged over docker-compose.yml (write_limits_override), or None.
    override: Path | None = None

    def compose(self, *arguments: str, timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
        tool = (
            [self.engine.executable, "compose"]
            if self.engine.name == "docker"
            else [sys.executable, "-m", "podman_compose"]
        )
        completed = subprocess.run(
            [*tool, "--project-name", self.name, *self._files(), *arguments],
            cwd=REPO_ROOT,
            env={**self.engine.environment, **self.variables},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        assert completed.returncode == 0, f"compose {' '.join(arguments)} failed:\n{completed.stderr[-4000:]}"
        return completed

    def _files(self) -> list[str]:
        files = [COMPOSE_FILE, *([self.override] if self.override else [])]
        return [argument for path in files for argument in ("--file", str(path))]

    def up(self, *, evaluators: int) -> None:
        """`up --detach --scale evaluator=N`. With Podman, `--no-deps` too: Podman 4.3 cannot start a container
        whose `--requires` (podman-compose's depends_on) names one already running ("generating dependency
        graph ... not found in input list"), and it ignores `service_healthy` anyway; restart policies and the
        database setup's own wait order the start instead (docs/operations.md, "With Podman")."""
        unordered = ["--no-deps"] if self.engine.name == "podman" else []
        self.compose("up", "--detach", *unordered, "--scale", f"evaluator={evaluators}")

    def containers(self, service: str | None = None, *, running_only: bool = False) -> list[str]:
        filters = ["--filter", f"label={PROJECT_LABEL}={self.name}"]
        if service is not None:
            filters += ["--filter", f"label={SERVICE_LABEL}={service}"]
        listed = self.engine.output("ps", *([] if running_only else ["--all"]), *filters, "--format", "{{.Names}}")
        return sorted(listed.split())

    def inspect(self, container: str) -> dict[str, object]:
        (found,) = json.loads(self.engine.output("inspect", container))
        return dict(found)

    def service_of(self, container: str) -> str:
        labels = self.inspect(container)["Config"]["Labels"]  # type: ignore[index]
        return str(labels[SERVICE_LABEL])  # type: ignore[index]

    def is_healthy(self, container: str) -> bool:
        """Podman runs healthchecks from systemd timers; where no systemd runs (CI containers, this machine) we run
        the container's own healthcheck as the timer would, with `podman healthcheck run`."""
        if self.engine.name == "podman":
            return self.engine.run("healthcheck", "run", container, capture=True, check=False).returncode == 0
        return self.engine.output("inspect", "--format", "{{.State.Health.Status}}", container) == "healthy"

    def wait_until_healthy(self, services: list[str], *, timeout: float = 300.0) -> None:
        """Until every container of `services` is healthy and every one-off job has exited 0."""
        deadline = time.monotonic() + timeout
        waiting: list[str] = []
        while time.monotonic() < deadline:
            waiting = [
                container
                for service in services
                for container in self.containers(service) or [f"{service} (no container)"]
                if not self._done(service, container)
            ]
            if not waiting:
                return
            time.sleep(2)
        raise AssertionError(f"not healthy within {timeout:.0f} s: {waiting}\n{self.logs()}")

    def _done(self, service: str, container: str) -> bool:
        if container.endswith("(no container)"):
            return False
        if service in ONE_OFF:
            state = self.engine.output("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", container)
            return state in {"exited 0", "stopped 0"}
        return self.is_healthy(container)

    def execute(self, container: str, *command: str) -> str:
        return self.engine.output("exec", container, *command)

    def metrics(self, container: str) -> Scrape:
        """The container's metrics port, read from inside it: compose publishes no metrics port."""
        fetch = f"import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:{METRICS_PORT}/metrics').read().decode())"
        return parse_exposition(self.execute(container, "python", "-c", fetch))

    def token(self, *, subject: str, role: str) -> str:
        """`compose run --rm token ...`, as docs/operations.md has people get one."""
        tool = ["--profile", "tools", "run", "--rm", "--no-deps", "token"]
        printed = self.compose(*tool, "--subject", subject, "--role", role).stdout
        return printed.strip().splitlines()[-1]

    def volumes(self) -> list[str]:
        listed = self.engine.output(
            "volume", "ls", "--filter", f"label={PROJECT_LABEL}={self.name}", "--format", "{{.Name}}"
        )
        return sorted(listed.split())

    def logs(self) -> str:
        lines = []
        for container in self.containers():
            tail = self.engine.run("logs", "--tail", "15", container, capture=True, check=False)
            lines.append(f"--- {container}\n{tail.stdout}{tail.stderr}")
        return "\n".join(lines)[-12000:]

    def down(self) -> None:
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "15")


def write_limits_override(engine: ContainerEngine, folder: Path) -> Path | None:
    """For Podman, an override giving every service the caller's own resource limits (ResourceLimits says why);
    None for Docker, which needs none."""
    if engine.limits is None:
        return None
    ulimits = engine.limits.compose_ulimits()
    services = {name: {"ulimits": ulimits} for name in load_compose()["services"]}
    override = folder / "resource-limits.yml"
    override.write_text(yaml.safe_dump({"services": services}))
    return override
