"""Mock citizen data is a pure function of the id: the same in every run and in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from civicflow.settings import REPO_ROOT
from tests.support.rest_api import RestApi

CITIZEN_ID = "CIT-0000123"
PRINT_CITIZEN = (
    "import json, sys\n"
    "from orchestrator.citizens import mock_citizen\n"
    "c = mock_citizen(sys.argv[1])\n"
    "print(json.dumps({'name': c.name, 'age': c.age, 'income': c.income, 'category': str(c.category)}))\n"
)


def test_same_citizen_id_gives_the_same_data_in_two_runs(api: RestApi) -> None:
    first = api.check_eligibility(CITIZEN_ID, "scheme_alpha")
    second = api.check_eligibility(CITIZEN_ID, "scheme_beta")

    assert first["instance_id"] != second["instance_id"]
    assert first["outputs"]["citizen"] == second["outputs"]["citizen"]


def test_a_fresh_process_computes_the_same_citizen(api: RestApi) -> None:
    served = api.check_eligibility(CITIZEN_ID, "scheme_alpha")["outputs"]["citizen"]

    # Another hash seed than ours, so data derived from Python's hash() would differ.
    env = {**os.environ, "PYTHONHASHSEED": "4242"}
    completed = subprocess.run(
        [sys.executable, "-c", PRINT_CITIZEN, CITIZEN_ID],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    fresh = json.loads(completed.stdout)

    assert {key: served[key] for key in ("name", "age", "category")} == {
        key: fresh[key] for key in ("name", "age", "category")
    }
    assert float(served["income"]) == float(fresh["income"])
