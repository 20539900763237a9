"""Which Debian mirrors the bases are built from: DEBIAN_MIRROR and DEBIAN_SECURITY_MIRROR, else the ones this
Debian host's apt already uses (a vetted mirror of an air-gapped network, say), else Debian's own. Only the
mirrors are taken from the host, never its suites: the bases are always the release the image files name."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path

DEBIAN = "http://deb.debian.org/debian"
DEBIAN_SECURITY = "http://deb.debian.org/debian-security"
_APT = Path("/etc/apt")
_OS_RELEASE = Path("/etc/os-release")
_DEB822_URIS = re.compile(r"^URIs:\s*(.+)$", re.MULTILINE)
_ONE_LINE = re.compile(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?(\S+)", re.MULTILINE)


def sources_lines(suite: str, environment: Mapping[str, str], *, apt: Path = _APT) -> list[str]:
    """The sources.list lines mmdebstrap is given: the suite, its updates and its security updates."""
    host = host_mirrors(apt) if _is_debian() else []
    archive = environment.get("DEBIAN_MIRROR") or next((uri for uri in host if "security" not in uri), DEBIAN)
    security = environment.get("DEBIAN_SECURITY_MIRROR") or next(
        (uri for uri in host if "security" in uri), DEBIAN_SECURITY
    )
    return [
        f"deb {archive} {suite} main",
        f"deb {archive} {suite}-updates main",
        f"deb {security} {suite}-security main",
    ]


def host_mirrors(apt: Path) -> list[str]:
    """Every mirror address of the host's apt sources, in the order apt reads them."""
    files = [apt / "sources.list", *sorted((apt / "sources.list.d").glob("*.list"))]
    files += sorted((apt / "sources.list.d").glob("*.sources"))
    return list(_addresses(path.read_text() for path in files if path.is_file()))


def _addresses(texts: Iterable[str]) -> Iterable[str]:
    for text in texts:
        for found in _DEB822_URIS.finditer(text):
            yield from found[1].split()
        yield from (found[1] for found in _ONE_LINE.finditer(text))


def _is_debian() -> bool:
    try:
        return re.search(r"^ID=\"?debian\"?$", _OS_RELEASE.read_text(), re.MULTILINE) is not None
    except OSError:
        return False
