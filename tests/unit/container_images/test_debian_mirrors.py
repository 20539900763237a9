"""The mirrors the Debian bases come from: yours, else the host's apt's for Debian itself, else Debian's; the suite
always ours."""

from __future__ import annotations

from pathlib import Path

import pytest

from container_images.debian_mirrors import DEBIAN, DEBIAN_SECURITY, Source, host_sources, sources_lines

TRIXIE = 'PRETTY_NAME="Debian GNU/Linux 13 (trixie)"\nID=debian\nVERSION_CODENAME=trixie\n'


@pytest.fixture
def apt(tmp_path: Path) -> Path:
    folder = tmp_path / "apt"
    (folder / "sources.list.d").mkdir(parents=True)
    # Read before Debian's own file, and a repository of a suite and component no Debian mirror has.
    (folder / "sources.list.d" / "a-docker.list").write_text(
        "deb [arch=amd64 signed-by=/k.gpg] https://download.docker.com/linux/debian trixie stable\n"
    )
    (folder / "sources.list.d" / "b-cloud.sources").write_text(
        "Types: deb\nURIs: https://packages.cloud.google.com/apt\nSuites: cloud-sdk\nComponents: main\n"
    )
    (folder / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.agency.example/debian\nSuites: trixie trixie-updates\nComponents: main\n\n"
        "Types: deb\nURIs: http://mirror.agency.example/debian-security\nSuites: trixie-security\nComponents: main\n"
    )
    return folder


@pytest.fixture
def os_release(tmp_path: Path) -> Path:
    path = tmp_path / "os-release"
    path.write_text(TRIXIE)
    return path


def test_one_line_and_deb822_sources_are_read_with_their_suites_and_components(apt: Path) -> None:
    read = list(host_sources(apt))
    assert read[0] == Source("https://download.docker.com/linux/debian", ("trixie",), ("stable",))
    assert Source("http://mirror.agency.example/debian", ("trixie", "trixie-updates"), ("main",)) in read


def test_the_hosts_debian_mirrors_serve_our_suite_and_other_repositories_are_passed_over(
    apt: Path, os_release: Path
) -> None:
    assert sources_lines("bookworm", {}, apt=apt, os_release=os_release) == [
        "deb http://mirror.agency.example/debian bookworm main",
        "deb http://mirror.agency.example/debian bookworm-updates main",
        "deb http://mirror.agency.example/debian-security bookworm-security main",
    ]


def test_mirrors_named_in_the_environment_come_first(apt: Path, os_release: Path) -> None:
    named = {"DEBIAN_MIRROR": "http://a/debian", "DEBIAN_SECURITY_MIRROR": "http://b/security"}
    lines = sources_lines("bookworm", named, apt=apt, os_release=os_release)
    assert lines[0] == "deb http://a/debian bookworm main"
    assert lines[2] == "deb http://b/security bookworm-security main"


def test_a_host_that_is_not_debian_lends_no_mirror(apt: Path, tmp_path: Path) -> None:
    ubuntu = tmp_path / "ubuntu"
    ubuntu.write_text("ID=ubuntu\nVERSION_CODENAME=noble\n")
    lines = sources_lines("bookworm", {}, apt=apt, os_release=ubuntu)
    assert lines == [
        f"deb {DEBIAN} bookworm main",
        f"deb {DEBIAN} bookworm-updates main",
        f"deb {DEBIAN_SECURITY} bookworm-security main",
    ]
