"""What Python the base image runs, asked of the image itself, as the wheel tags pip downloads for."""

from __future__ import annotations

import json
from dataclasses import dataclass

from container_images.engine import ContainerEngine, EngineError

# Run inside the base image, with no network: only the standard library is there to ask.
_PROBE = (
    "import json, platform, sys; "
    "print(json.dumps({'python': [sys.version_info[0], sys.version_info[1]], 'machine': platform.machine(), "
    "'libc': ' '.join(platform.libc_ver())}))"
)
# The manylinux tags older than PEP 600 (manylinux_2_5, _2_12 and _2_17 under their first names).
_LEGACY_MANYLINUX = {5: "manylinux1", 12: "manylinux2010", 17: "manylinux2014"}


@dataclass(frozen=True)
class PythonTarget:
    """An interpreter by its version, CPU and C library: enough to name the binary wheels it can install."""

    major: int
    minor: int
    machine: str
    glibc: tuple[int, int]

    @property
    def version(self) -> str:
        return f"{self.major}.{self.minor}"

    def platforms(self) -> list[str]:
        """Every manylinux platform this glibc runs, newest first: pip does not widen a `--platform` itself."""
        glibc_major, glibc_minor = self.glibc
        if glibc_major != 2:
            raise EngineError(f"glibc {glibc_major}.{glibc_minor} has no manylinux tags")
        tags = []
        for minor in range(glibc_minor, 4, -1):
            tags.append(f"manylinux_2_{minor}_{self.machine}")
            if minor in _LEGACY_MANYLINUX:
                tags.append(f"{_LEGACY_MANYLINUX[minor]}_{self.machine}")
        return tags

    def pip_arguments(self) -> list[str]:
        arguments = ["--only-binary=:all:", "--implementation", "cp", "--python-version", self.version]
        arguments += ["--abi", f"cp{self.major}{self.minor}"]
        for platform in self.platforms():
            arguments += ["--platform", platform]
        return arguments


def probe(engine: ContainerEngine, base_image: str) -> PythonTarget:
    """Runs the base image's own python3 once, without network, and reads what it is."""
    return parse_probe(engine.run_once(base_image, "-c", _PROBE, entrypoint="python3").stdout)


def parse_probe(answer: str) -> PythonTarget:
    facts = json.loads(answer.strip().splitlines()[-1])
    name, _, version = str(facts["libc"]).strip().partition(" ")
    if name != "glibc" or not version:
        raise EngineError(f"the base image's C library is {facts['libc'] or 'unknown'}: only glibc bases are supported")
    glibc_major, glibc_minor = (int(part) for part in version.split(".")[:2])
    major, minor = facts["python"]
    machine = str(facts["machine"])
    return PythonTarget(major=int(major), minor=int(minor), machine=machine, glibc=(glibc_major, glibc_minor))
