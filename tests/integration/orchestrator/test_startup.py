"""The orchestrator refuses to start on a bad template, naming the file and the problem."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from civicflow.auth.access import ServiceIdentity
from civicflow.settings import REPO_ROOT
from tests.support.credentials import Credentials


def test_bad_template_stops_the_process_with_a_message_naming_file_and_problem(
    tmp_path: Path, database_url: str, credentials: Credentials
) -> None:
    document = json.loads((REPO_ROOT / "templates" / "eligibility_check.json").read_text())
    document["steps"][2]["task_type"] = "consult_oracle"
    (tmp_path / "broken.json").write_text(json.dumps(document))
    environment = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TEMPLATES_DIR": str(tmp_path),
        "ORCHESTRATOR_PORT": "0",
        "HOST": "127.0.0.1",
        **credentials.environment(ServiceIdentity.ORCHESTRATOR),
    }

    finished = subprocess.run(
        [sys.executable, "-m", "orchestrator"], env=environment, capture_output=True, text=True, timeout=60
    )

    assert finished.returncode == 2, finished.stderr
    refusal = [json.loads(line) for line in finished.stdout.splitlines() if "refusing to start" in line]
    assert len(refusal) == 1 and refusal[0]["level"] == "ERROR"
    message = refusal[0]["message"]
    assert str(tmp_path / "broken.json") in message
    assert "steps[2] ('evaluate_rules'): unknown task_type 'consult_oracle'" in message
