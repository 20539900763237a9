"""`python -m bench.compare`'s command line: the baseline must be a Civicflow checkout."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.compare import parse_arguments


def test_a_baseline_that_is_not_a_checkout_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        parse_arguments(["--baseline", str(tmp_path)])
