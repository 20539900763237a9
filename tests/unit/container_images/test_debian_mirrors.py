"""The mirrors the Debian bases come from: yours, else the host's apt's, else Debian's; the suite always ours."""

from __future__ import annotations

from pathlib import Path

import pytest

from container_images import debian_mirrors
from container_images.debian_mirrors import host_mirrors, sources_lines


@pytest.fixture
def apt(tmp_path: Path) -> Path:
    (tmp_path / "sources.list.d").mkdir()
    (tmp_path / "sources.list.d" / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.agency.example/debian\nSuites: trixie trixie-updates\n\n"
        "Types: deb\nURIs: http://mirror.agency.example/debian-security\nSuites: trixie-security\n"
    )
    (tmp_path / "sources.list").write_text("# a comment\ndeb [arch=amd64] http://old.example/debian bookworm main\n")
    return tmp_path


def test_every_mirror_of_one_line_and_deb822_sources_is_read(apt: Path) -> None:
    assert host_mirrors(apt) == [
        "http://old.example/debian",
        "http://mirror.agency.example/debian",
        "http://mirror.agency.example/debian-security",
    ]


def test_the_hosts_mirrors_serve_our_suite_not_the_hosts(apt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(debian_mirrors, "_is_debian", lambda: True)
    assert sources_lines("bookworm", {}, apt=apt) == [
        "deb http://old.example/debian bookworm main",
        "deb http://old.example/debian bookworm-updates main",
        "deb http://mirror.agency.example/debian-security bookworm-security main",
    ]


def test_mirrors_named_in_the_environment_come_first(apt: Path) -> None:
    lines = sources_lines(
        "bookworm", {"DEBIAN_MIRROR": "http://a/debian", "DEBIAN_SECURITY_MIRROR": "http://b/s"}, apt=apt
    )
    assert lines == [
        "deb http://a/debian bookworm main",
        "deb http://a/debian bookworm-updates main",
        "deb http://b/s bookworm-security main",
    ]


def test_a_host_that_is_not_debian_lends_no_mirror(apt: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(debian_mirrors, "_is_debian", lambda: False)
    assert sources_lines("bookworm", {}, apt=apt)[0] == f"deb {debian_mirrors.DEBIAN} bookworm main"
