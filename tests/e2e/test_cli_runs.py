"""`civicflow runs list`: the run list from the command line, as a table and as JSON, with each filter, a page at a
time with the cursor the table hints at, or every page with --all; a usage mistake is exit status 2, the API's
refusal 1."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bench.run_list_seed import RunListShape
from civicflow.auth.principals import Role
from tests.support.cli_runs import RunCommand


def test_the_runs_of_one_citizen_as_a_table_and_as_json(civicflow: RunCommand, seeded_runs: RunListShape) -> None:
    citizen = f"{seeded_runs.citizen_prefix}{11:07d}"
    numbers = [n for n in range(seeded_runs.runs) if seeded_runs.citizen_of(n) == citizen]

    table = civicflow("runs", "list", "--citizen", citizen, "--limit", "500", role=Role.AUDITOR)
    as_json = civicflow("runs", "list", "--citizen", citizen, "--limit", "500", "--json", role=Role.AUDITOR).json()

    assert table.status == 0, table.err
    assert len(as_json["items"]) == len(numbers) and as_json["next_cursor"] is None
    lines = table.out.splitlines()
    first = as_json["items"][0]
    row = next(index for index, line in enumerate(lines) if first["instance_id"] in line)
    assert lines[row].split()[:2] == [first["instance_id"], first["status"]]
    assert lines[row + 1].split()[:2] == [f"{first['template_id']},", first["template_version"]]
    assert lines[-1] == f"{len(numbers)} runs"


def test_a_page_hints_at_the_next_and_all_follows_every_cursor(
    civicflow: RunCommand, seeded_runs: RunListShape
) -> None:
    actor = seeded_runs.actors[1]
    after = seeded_runs.created_at_of(999).isoformat()
    before = (seeded_runs.newest + timedelta(seconds=1)).isoformat()
    filters = ("--actor", actor, "--created-after", after, "--created-before", before, "--status", "completed")
    wanted = [
        n
        for n in range(1000)
        if seeded_runs.actor_of(n) == actor
        and seeded_runs.status_of(n) == "completed"
        and seeded_runs.template_of(n) != "impact_analysis"  # a caseworker reads no impact analysis
    ]

    first = civicflow("runs", "list", *filters, "--limit", "20")
    hint = " ".join(first.out.split())  # the hint may wrap: no cursor holds a space
    assert f"20 runs; next page: civicflow runs list --status completed --actor {actor} " in hint
    cursor = hint.rsplit("--cursor ", 1)[1]
    second = civicflow("runs", "list", *filters, "--limit", "20", "--cursor", cursor, "--json").json()
    everything = civicflow("runs", "list", *filters, "--limit", "20", "--all", "--json").json()

    assert len(second["items"]) == 20
    assert len(everything["items"]) == len(wanted) and everything["next_cursor"] is None
    ids = [item["instance_id"] for item in everything["items"]]
    assert ids[20:40] == [item["instance_id"] for item in second["items"]]
    assert {item["template_id"] for item in everything["items"]} <= {
        "eligibility_check",
        "benefit_application",
        "appeal_processing",
    }


def test_mistakes_are_usage_errors_and_refusals_fail(civicflow: RunCommand) -> None:
    for usage in (("--status", "finished"), ("--created-after", "yesterday"), ("--limit", "0")):
        with pytest.raises(SystemExit) as exited:  # argparse's usage error
            civicflow("runs", "list", *usage)
        assert exited.value.code == 2
    refused = civicflow("runs", "list", "--template", "impact_analysis")
    assert refused.status == 1 and "error 403" in refused.err
    bad_cursor = civicflow("runs", "list", "--cursor", "not-a-cursor")
    assert bad_cursor.status == 1 and "cursor" in bad_cursor.err
