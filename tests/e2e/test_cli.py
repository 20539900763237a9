"""The `civicflow` command line against the real gateway and services: tables, --json, and exit statuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

import pytest

from civicflow.auth.principals import Role
from civicflow.settings import REPO_ROOT
from tests.support.cli_runs import RunCommand
from tests.support.rest_api import RestApi


@pytest.fixture(scope="module")
def checked(civicflow: RunCommand) -> dict[str, Any]:
    """One eligibility check run through the command line, as --json printed it."""
    ran = civicflow(
        "run", "eligibility_check", "-i", "citizen_id=CIT-0000042", "-i", "scheme_name=scheme_alpha", "--json"
    )
    assert ran.status == 0, ran.err
    return dict(ran.json())


@pytest.fixture(scope="module")
def analysed(civicflow: RunCommand) -> dict[str, Any]:
    """An impact analysis of 2,000 citizens run through the command line, as --json printed it."""
    ran = civicflow(
        "run",
        "impact_analysis",
        "--input",
        "scheme_name=scheme_alpha",
        "--input",
        "population_size=2000",
        "--input",
        "proposed_rules.max_income=200000",
        "--json",
        role=Role.ANALYST,
    )
    assert ran.status == 0, ran.err
    return dict(ran.json())


def test_templates_are_listed_as_a_table_and_as_the_apis_json(civicflow: RunCommand, api: RestApi) -> None:
    table = civicflow("templates")
    assert table.status == 0
    for template_id in ("eligibility_check", "impact_analysis", "appeal_processing"):
        assert template_id in table.out
    assert "citizen_id*" in table.out and "population_size" in table.out
    assert "build_impact_report" in table.out

    assert civicflow("templates", "--json").json() == api.get("/templates").json()


def test_a_templates_versions_are_shown_and_a_reload_is_an_admins(civicflow: RunCommand) -> None:
    shown = civicflow("templates", "show", "eligibility_check")
    assert shown.status == 0, shown.err
    assert "eligibility_check.json" in shown.out and "yes" in shown.out
    assert civicflow("templates", "reload").status == 1  # a caseworker: 403
    reloaded = civicflow("templates", "reload", "--json", role=Role.ADMIN)
    assert (reloaded.status, reloaded.json()) == (0, {"loaded": [], "problems": []})


def test_an_eligibility_check_runs_and_its_decision_is_shown(civicflow: RunCommand, checked: dict[str, Any]) -> None:
    assert checked["status"] == "completed"
    assert checked["template_id"] == "eligibility_check"
    decision = checked["outputs"]["decision"]["decision"]

    table = civicflow("show", checked["instance_id"])
    assert table.status == 0
    assert f"Decision: {decision}" in table.out
    assert "income_ceiling" in table.out and "completed" in table.out


def test_an_impact_analysis_runs_to_its_report(civicflow: RunCommand, analysed: dict[str, Any]) -> None:
    report = analysed["outputs"]["impact_report"]
    assert analysed["status"] == "completed"
    assert report["total"] == 2000
    assert report["proposed_rules"]["max_income"] == 200000

    table = civicflow("report", analysed["instance_id"], role=Role.ANALYST)
    assert table.status == 0
    assert "Impact of the proposed rules on scheme_alpha: 2,000 citizens" in table.out
    eligible_row = next(line for line in table.out.splitlines() if line.strip().startswith("ELIGIBLE"))
    change = report["eligible"] - report["baseline"]["eligible"]
    expected = [f"{report['baseline']['eligible']:,}", f"{report['eligible']:,}", f"{change:+,}"]
    assert eligible_row.split()[1:] == expected
    assert report["results_digest"] in table.out
    assert civicflow("report", analysed["instance_id"], "--json", role=Role.ANALYST).json() == report


def test_the_table_of_a_run_shows_the_report(civicflow: RunCommand) -> None:
    ran = civicflow(
        "run", "impact_analysis", "-i", "scheme_name=scheme_gamma", "-i", "population_size=300", role=Role.ANALYST
    )
    assert ran.status == 0, ran.err
    assert "impact_analysis" in ran.out and "completed" in ran.out
    assert "Impact of the proposed rules on scheme_gamma: 300 citizens" in ran.out


def test_a_run_shows_its_progress_on_the_terminal_and_prints_only_json_on_stdout(civicflow: RunCommand) -> None:
    ran = civicflow(
        "run",
        "impact_analysis",
        "-i",
        "scheme_name=scheme_beta",
        "-i",
        "population_size=3000",
        "--json",
        terminal=True,
        role=Role.ANALYST,
    )
    assert ran.status == 0, ran.err
    # The bar's last frame, drawn as the run ended: every citizen evaluated.
    assert "3,000/3,000" in ran.err and "items" in ran.err
    finished = ran.json()
    assert finished["status"] == "completed"
    assert finished["progress"]["items_done"] == finished["progress"]["items_total"] == 3000


def test_a_detached_run_returns_at_once_and_watch_follows_it_to_the_end(civicflow: RunCommand) -> None:
    started = civicflow(
        "run",
        "impact_analysis",
        "-i",
        "scheme_name=scheme_alpha",
        "-i",
        "population_size=20000",
        "--detach",
        "--json",
        role=Role.ANALYST,
    )
    assert started.status == 0, started.err
    accepted = started.json()
    assert set(accepted) >= {"instance_id", "status"}

    watched = civicflow("watch", accepted["instance_id"], "--json", role=Role.ANALYST)
    assert watched.status == 0, watched.err
    finished = watched.json()
    assert (finished["instance_id"], finished["status"]) == (accepted["instance_id"], "completed")
    assert finished["outputs"]["impact_report"]["total"] == 20000


def test_a_detached_run_prints_its_instance_id_alone(civicflow: RunCommand) -> None:
    started = civicflow(
        "run", "eligibility_check", "-i", "citizen_id=CIT-0000042", "-i", "scheme_name=scheme_alpha", "--detach"
    )

    assert started.status == 0, started.err
    assert started.out == f"{uuid.UUID(started.out.strip())}\n"
    shown = civicflow("show", started.out.strip(), "--json")
    assert shown.status == 0 and shown.json()["instance_id"] == started.out.strip()


def test_a_sync_run_from_an_inputs_file_with_an_idempotency_key_is_not_repeated(
    civicflow: RunCommand, tmp_path: Any
) -> None:
    inputs = tmp_path / "inputs.json"
    inputs.write_text(json.dumps({"citizen_id": "CIT-0000007", "scheme_name": "scheme_gamma"}))
    key = f"cli-{uuid.uuid4()}"
    argv = ["run", "eligibility_check", "--inputs-file", str(inputs), "-i", "scheme_name=scheme_beta"]

    first = civicflow(*argv, "--sync", "--idempotency-key", key, "--json")
    again = civicflow(*argv, "--sync", "--idempotency-key", key, "--json")
    changed = civicflow(*argv, "-i", "citizen_id=CIT-0000008", "--sync", "--idempotency-key", key)

    assert (first.status, again.status) == (0, 0), first.err + again.err
    assert first.json()["outputs"]["decision"]["scheme_name"] == "scheme_beta"
    assert again.json()["instance_id"] == first.json()["instance_id"]
    assert changed.status == 1 and changed.err.startswith("error 409 ALREADY_EXISTS:")


def test_results_are_paged_with_the_next_command_to_run(civicflow: RunCommand, analysed: dict[str, Any]) -> None:
    instance_id = analysed["instance_id"]
    page = civicflow("results", instance_id, "--offset", "1990", "--limit", "5", "--json", role=Role.ANALYST).json()
    assert [row["position"] for row in page["results"]] == [1991, 1992, 1993, 1994, 1995]
    assert page["next_offset"] == 1995

    table = civicflow("results", instance_id, "--offset", "1990", "--limit", "5", role=Role.ANALYST)
    assert "citizens 1,991 to 1,995 of 2,000" in table.out
    assert f"next page: civicflow results {instance_id} --offset 1995" in table.out
    assert "CIT-0001991" in table.out
    last = civicflow("results", instance_id, "--offset", "1995", "--limit", "50", role=Role.ANALYST)
    assert "citizens 1,996 to 2,000 of 2,000" in last.out and "next page" not in last.out


def test_the_audit_trail_has_one_row_per_step(civicflow: RunCommand, checked: dict[str, Any]) -> None:
    entries = civicflow("audit", checked["instance_id"], "--json").json()
    steps = [entry["step_name"] for entry in entries]
    assert steps == ["fetch_citizen", "fetch_scheme_rules", "evaluate_rules", "make_decision"]

    table = civicflow("audit", checked["instance_id"])
    assert table.status == 0
    for index, step in enumerate(steps):
        assert f"{index} {step}" in table.out


def test_an_appeal_with_new_data_creates_a_linked_instance(civicflow: RunCommand, checked: dict[str, Any]) -> None:
    ran = civicflow("appeal", checked["instance_id"], "--new-data", "income=240000", "--json")
    assert ran.status == 0, ran.err
    appeal = ran.json()
    assert appeal["original_instance_id"] == checked["instance_id"]
    assert appeal["new_decision"] in {"ELIGIBLE", "NOT_ELIGIBLE", "NEEDS_REVIEW"}

    shown = civicflow("show", appeal["new_instance_id"], "--json").json()
    assert shown["appealed_instance_id"] == checked["instance_id"]
    table = civicflow("appeal", checked["instance_id"], "--new-data", "age=30", "--new-data", "category=sc")
    assert table.status == 0 and "Appeal" in table.out and "->" in table.out


def test_an_appeal_names_its_new_data_as_the_api_does(civicflow: RunCommand, checked: dict[str, Any]) -> None:
    refused = civicflow("appeal", checked["instance_id"], "--new-data", "age=131")
    assert refused.status == 1
    assert "error 422" in refused.err and "  new_data.age: 131 is greater than the maximum of 130" in refused.err

    with pytest.raises(SystemExit) as old_option:  # argparse's usage error: no other name is taken
        civicflow("appeal", checked["instance_id"], "--evidence", "age=30")
    assert old_option.value.code == 2


def test_watching_a_finished_run_shows_it_at_once(civicflow: RunCommand, checked: dict[str, Any]) -> None:
    ran = civicflow("watch", checked["instance_id"])
    assert ran.status == 0, ran.err
    assert checked["instance_id"] in ran.out and "completed" in ran.out


def test_a_run_that_fails_is_shown_with_its_error_and_exits_1(civicflow: RunCommand) -> None:
    ran = civicflow("run", "eligibility_check", "-i", "citizen_id=CIT-1", "-i", "scheme_name=scheme_zeta")
    assert ran.status == 1
    assert "failed" in ran.out and "unknown scheme 'scheme_zeta'" in ran.out


def test_api_errors_are_printed_readably_and_exit_1(civicflow: RunCommand, checked: dict[str, Any]) -> None:
    unknown = civicflow("run", "no_such_template", "-i", "x=1")
    assert unknown.status == 1
    assert unknown.err.startswith("error 404 NOT_FOUND:") and "no_such_template" in unknown.err

    invalid = civicflow(
        "run", "impact_analysis", "-i", "scheme_name=scheme_alpha", "-i", "population_size=0", role=Role.ANALYST
    )
    assert invalid.status == 1
    assert "error 422" in invalid.err
    assert "  inputs.population_size: 0 is less than the minimum of 1" in invalid.err

    not_a_report = civicflow("report", checked["instance_id"])
    assert not_a_report.status == 1 and "error 409" in not_a_report.err

    missing = civicflow("show", str(uuid.uuid4()), "--json")
    assert missing.status == 1 and "error 404" in missing.err and missing.out == ""

    unknown_id = str(uuid.uuid4())
    unwatched = civicflow("watch", unknown_id, "--json")
    assert unwatched.status == 1 and unwatched.out == ""
    assert unwatched.err.strip().startswith("error 404 NOT_FOUND:") and unknown_id in unwatched.err


def test_usage_errors_exit_2_and_send_nothing(civicflow: RunCommand, count_instances: Any) -> None:
    before = count_instances()
    no_new_data = civicflow("appeal", str(uuid.uuid4()))
    bad_pair = civicflow("run", "eligibility_check", "-i", "citizen_id")

    assert (no_new_data.status, bad_pair.status) == (2, 2)
    assert "an appeal needs new data: --new-data" in no_new_data.err and "is not KEY=VALUE" in bad_pair.err
    assert count_instances() == before


def command(*argv: str, url: str) -> subprocess.CompletedProcess[str]:
    """The command line as a person runs it: its own process, its exit status."""
    environment = {**os.environ, "CIVICFLOW_URL": url}
    return subprocess.run(
        [sys.executable, "-m", "civicflow_cli", *argv],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_an_unreachable_gateway_exits_1_naming_the_address() -> None:
    # Port 9 (discard) on loopback: nothing listens there.
    finished = command("templates", url="http://127.0.0.1:9")
    assert finished.returncode == 1
    assert "no answer from the Civicflow gateway at http://127.0.0.1:9" in finished.stderr
    assert finished.stdout == ""


def test_a_malformed_command_line_exits_2_in_its_own_process() -> None:
    finished = command("show", "42", url="http://127.0.0.1:9")
    assert finished.returncode == 2
    assert "'42' is not an instance id" in finished.stderr
