"""`python -m bench.compare`: two checkouts' systems side by side, here this checkout against itself."""

from __future__ import annotations

import pytest

from bench.compare import main
from civicflow.settings import REPO_ROOT

pytestmark = pytest.mark.bench


def test_both_systems_are_measured_in_every_round(
    database_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)  # their scratch databases go on the session's server

    status = main(
        ["--baseline", str(REPO_ROOT), "--rounds", "2", "--sequential", "3", "--concurrent", "8", "--clients", "2"]
    )

    lines = capsys.readouterr().out.splitlines()
    assert status == 0
    assert [line.split(":")[0].strip() for line in lines] == ["this", "baseline"]
    assert all("(6 checks)" in line and "(rounds " in line for line in lines)
