"""The benchmark's command line: populations within the templates' range, fewer runs for large ones."""

from __future__ import annotations

import pytest

from bench.cli import parse_arguments, runs_for


def test_populations_are_a_comma_separated_list_within_the_templates_range() -> None:
    assert parse_arguments(["--populations", "500,50000,1000000"]).populations == [500, 50000, 1000000]
    with pytest.raises(SystemExit):
        parse_arguments(["--populations", "0"])
    with pytest.raises(SystemExit):
        parse_arguments(["--populations", "1000001"])


def test_large_populations_get_fewer_runs_and_the_speed_up_uses_the_largest_population() -> None:
    arguments = parse_arguments(["--populations", "500,50000,1000000", "--runs", "9"])
    assert runs_for(500, arguments) == (1, 9)
    assert runs_for(1_000_000, arguments) == (0, 3)
    assert arguments.scaling_population == 1_000_000
    assert parse_arguments(["--populations", "500,50000", "--runs", "3"]).scaling_population == 50_000
    with pytest.raises(SystemExit):
        parse_arguments(["--populations", "500", "--scaling-population", "50000"])
