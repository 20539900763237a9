"""kill -9 of `make run`'s embedded PostgreSQL: the launcher starts it again on the same data and socket, the
services reconnect, and an eligibility check succeeds; answers meanwhile never name the database's socket."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import httpx2

from tests.support.local_system import gateway_url, issued_token, wait_until_healthy
from tests.support.process_tree import descendants
from tests.support.terminal_session import make_run_environment, terminal_session

RECOVERY_SECONDS = 60.0


def test_a_killed_postgres_is_restarted_and_an_eligibility_check_then_succeeds(tmp_path: Path) -> None:
    environment = make_run_environment(tmp_path)
    url = gateway_url(environment)
    with terminal_session(["make", "run"], env=environment, screen=tmp_path / "screen") as session:
        wait_until_healthy(url, alive=lambda: session.process.poll() is None, describe=session.output)
        caseworker = issued_token(environment, subject="carol", role="caseworker")
        (postmaster,) = [pid for pid, line in descendants(session.process.pid).items() if "/postgres -D " in line]

        os.kill(postmaster, signal.SIGKILL)
        answers = []
        deadline = time.monotonic() + RECOVERY_SECONDS
        while True:
            response = httpx2.post(
                f"{url}/workflows/execute",
                json={
                    "template_id": "eligibility_check",
                    "inputs": {"citizen_id": "CIT-0000042", "scheme_name": "scheme_alpha"},
                },
                headers={"Authorization": f"Bearer {caseworker}"},
                timeout=60.0,
            )
            answers.append(response)
            if response.status_code == 200:
                break
            assert response.status_code == 503, response.text
            assert time.monotonic() < deadline, f"no eligibility check succeeded within {RECOVERY_SECONDS} s"
            time.sleep(0.2)
        output = session.output()

        session.press_ctrl_c()
        assert session.process.wait(timeout=90) == 0, session.output()[-6000:]

    assert answers[-1].json()["status"] == "completed", answers[-1].text
    assert "postgres exited (rc=-9); restarting it" in output
    for answer in answers:
        assert ".s.PGSQL" not in answer.text and str(tmp_path) not in answer.text, answer.text
