"""Fixtures of the benchmark's end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.databases import launcher_roles


@pytest.fixture
def on_test_server(postgres_server_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The benchmark's systems on the test server, each in a database of its own, with roles removed afterwards."""
    with launcher_roles(postgres_server_url, tmp_path / "passwords.json") as environment:
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        yield
