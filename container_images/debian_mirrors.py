"""Which Debian mirrors the bases are built from: DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR, else the ones this
Debian host's apt uses for Debian itself (a vetted mirror of an air-gapped network, say), else Debian's own. Only
the mirrors are taken from the host, never its suites: the bases are always the release the image files name."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

DEBIAN = "http://deb.debian.org/debian"
DEBIAN_SECURITY = "http://deb.debian.org/debian-security"
_APT = Path("/etc/apt")
_OS_RELEASE = Path("/etc/os-release")
_ONE_LINE = re.compile(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+(\S+)\s+(.+)$", re.MULTILINE)


@dataclass(frozen=True)
class Source:
    """One apt source: a mirror, its suites and components."""

    uri: str
    suites: tuple[str, ...]
    components: tuple[str, ...]


def sources_lines(
    suite: str, environment: Mapping[str, str], *, apt: Path = _APT, os_release: Path = _OS_RELEASE
) -> list[str]:
    """The sources.list lines mmdebstrap is given: the suite, its updates and its security updates."""
    codename = _debian_codename(os_release)
    host = list(host_sources(apt)) if codename else []
    archive = environment.get("DEBIAN_MIRROR") or _mirror_of(host, codename, "") or DEBIAN
    security = environment.get("DEBIAN_SECURITY_MIRROR") or _mirror_of(host, codename, "-security") or DEBIAN_SECURITY
    return [
        f"deb {archive} {suite} main",
        f"deb {archive} {suite}-updates main",
        f"deb {security} {suite}-security main",
    ]


def host_sources(apt: Path) -> Iterator[Source]:
    """Every source of the host's apt: one-line (*.list) and deb822 (*.sources) files."""
    for path in [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]:
        if path.is_file():
            for uri, suite, components in _ONE_LINE.findall(path.read_text()):
                yield Source(uri=uri, suites=(suite,), components=tuple(components.split()))
    for path in sorted((apt / "sources.list.d").glob("*.sources")):
        for stanza in re.split(r"\n\s*\n", path.read_text()):
            fields = dict(re.findall(r"^([A-Za-z-]+):\s*(.*)$", stanza, re.MULTILINE))
            if "deb" in fields.get("Types", "").split() and fields.get("Enabled", "yes") != "no":
                suites, components = (
                    tuple(fields.get("Suites", "").split()),
                    tuple(fields.get("Components", "").split()),
                )
                for uri in fields.get("URIs", "").split():
                    yield Source(uri=uri, suites=suites, components=components)


def _mirror_of(sources: list[Source], codename: str, kind: str) -> str | None:
    """The first mirror serving Debian's own `main` of the host's release: a Docker or cloud SDK repository
    never serves `<codename>` with `main`."""
    wanted = codename + kind
    return next((s.uri for s in sources if wanted in s.suites and "main" in s.components), None)


def _debian_codename(os_release: Path) -> str:
    try:
        text = os_release.read_text()
    except OSError:
        return ""
    fields = dict(re.findall(r'^([A-Z_]+)="?([^"\n]*)"?$', text, re.MULTILINE))
    return fields.get("VERSION_CODENAME", "") if fields.get("ID") == "debian" else ""
