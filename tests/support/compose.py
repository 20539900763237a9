"""docker-compose.yml as the tests run it without Docker: each named volume a directory of its own, each container's
paths resolved through its own mounts, and the one-off jobs' commands run on those directories.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from civicflow.launch import credentials
from civicflow.settings import REPO_ROOT

COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
# The override that takes the services' certificates from your own authority (docs/operations.md).
OWN_CA_FILE = REPO_ROOT / "deploy" / "compose" / "own-ca.yml"
# Where compose mounts a service's secrets.
SECRETS = PurePosixPath("/run/secrets")
_VARIABLE = re.compile(r"\$\{(\w+)(?::-([^}]*))?\}")


def load_compose(*files: Path, environment: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The compose file (by default docker-compose.yml alone), later files merged over earlier ones as compose
    merges `-f` files: mappings key by key, lists joined; `${NAME:-default}` taken from `environment`."""
    merged: dict[str, Any] = {}
    for path in files or (COMPOSE_FILE,):
        text = _VARIABLE.sub(lambda found: (environment or {}).get(found[1], found[2] or ""), path.read_text())
        merged = _merge(merged, yaml.safe_load(text))
    return merged


def _merge(base: Any, override: Any) -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        return {key: _merge(base[key], value) if key in base else value for key, value in {**base, **override}.items()}
    if isinstance(base, list) and isinstance(override, list):
        return [*base, *(item for item in override if item not in base)]
    return override


@dataclass(frozen=True)
class Mount:
    volume: str
    target: PurePosixPath
    read_only: bool


def mounts(definition: dict[str, Any]) -> list[Mount]:
    """A service's named-volume mounts, written `volume:/path` or `volume:/path:ro`; bind mounts of the host's
    directories (`./templates:/app/templates:ro`) are not volumes and are left out."""
    found = []
    for entry in definition.get("volumes", []):
        volume, target, *mode = entry.split(":")
        if volume.startswith((".", "/")):
            continue
        found.append(Mount(volume=volume, target=PurePosixPath(target), read_only=mode == ["ro"]))
    return found


@dataclass(frozen=True)
class Volumes:
    """The compose file's named volumes as directories under `root`."""

    compose: dict[str, Any]
    root: Path

    def directory(self, volume: str) -> Path:
        assert volume in self.compose["volumes"], f"{volume} is not a volume of the compose file"
        path = self.root / volume
        path.mkdir(parents=True, exist_ok=True)
        return path

    def host_path(self, service: str, container_path: str) -> Path | None:
        """Where `container_path` of `service`'s container is here; None if no volume or secret of it holds it."""
        path = PurePosixPath(container_path)
        if path.parent == SECRETS and path.name in self.compose["services"][service].get("secrets", []):
            return REPO_ROOT / self.compose["secrets"][path.name]["file"]
        holding = [mount for mount in mounts(self.compose["services"][service]) if path.is_relative_to(mount.target)]
        if not holding:
            return None
        mount = max(holding, key=lambda mount: len(mount.target.parts))
        return self.directory(mount.volume).joinpath(*path.relative_to(mount.target).parts)

    def resolve(self, service: str, value: str) -> str:
        """`value` with a path inside one of `service`'s volumes replaced by where it is here."""
        if not value.startswith("/"):
            return value
        host = self.host_path(service, value)
        return value if host is None else str(host)

    def environment(self, service: str) -> dict[str, str]:
        """The service's environment as compose gives it, its paths resolved through its volumes."""
        environment = self.compose["services"][service].get("environment", {})
        return {name: self.resolve(service, str(value)) for name, value in environment.items()}

    def visible_files(self, service: str) -> Iterator[Path]:
        """Every file the service's container sees in its volumes and secrets."""
        for secret in self.compose["services"][service].get("secrets", []):
            yield REPO_ROOT / self.compose["secrets"][secret]["file"]
        for mount in mounts(self.compose["services"][service]):
            yield from (path for path in self.directory(mount.volume).rglob("*") if path.is_file())

    def container_path(self, service: str, container_path: str) -> Path:
        """Where `container_path` is in a directory standing for the service's container: its volumes are mounted
        there (as links), and what it writes anywhere else stays there, never on this machine's own paths."""
        root = self.root / "containers" / service
        for mount in mounts(self.compose["services"][service]):
            link = root.joinpath(*mount.target.parts[1:])
            if not link.is_symlink():
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(self.directory(mount.volume), target_is_directory=True)
        return root.joinpath(*PurePosixPath(container_path).parts[1:])

    def command(self, service: str) -> list[str]:
        """The service's command line, every absolute path in it taken inside its container's directory."""
        command = [str(argument) for argument in self.compose["services"][service]["command"]]
        return [
            str(self.container_path(service, argument)) if argument.startswith("/") else argument
            for argument in command
        ]

    def run_credentials_job(self) -> None:
        """The `credentials` job: its module's main on its command line's arguments."""
        command = self.command("credentials")
        assert command[:3] == ["python", "-m", "civicflow.launch.credentials"], command
        assert credentials.main(command[3:]) == 0
