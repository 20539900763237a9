"""Talking to a system `make run` started: wait for its gateway, issue tokens as a person would, follow a run."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx2

from civicflow.settings import REPO_ROOT

STARTUP_SECONDS = 120.0


def gateway_url(environment: Mapping[str, str]) -> str:
    return f"http://127.0.0.1:{environment['GATEWAY_PORT']}"


def wait_until_healthy(url: str, *, alive: Callable[[], bool], describe: Callable[[], str]) -> None:
    """Until /healthz answers 200; fails if the launcher exits first or it takes longer than STARTUP_SECONDS."""
    deadline = time.monotonic() + STARTUP_SECONDS
    with httpx2.Client(base_url=url, timeout=2.0) as client:
        while time.monotonic() < deadline:
            assert alive(), f"the launcher exited while starting:\n{describe()}"
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.25)
    raise AssertionError(f"/healthz did not answer 200 within {STARTUP_SECONDS} s:\n{describe()}")


def issued_token(environment: Mapping[str, str], *, subject: str, role: str) -> str:
    """`civicflow token issue --subject ... --role ...`, with the issuer key the launcher made."""
    issued = subprocess.run(
        [sys.executable, "-m", "civicflow_cli", "token", "issue", "--subject", subject, "--role", role]
        + ["--key", environment["TOKEN_ISSUER_KEY_PATH"]],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return issued.stdout.strip()


def start_impact_analysis(url: str, token: str, population: int) -> str:
    response = httpx2.post(
        f"{url}/workflows/execute",
        json={
            "template_id": "impact_analysis",
            "inputs": {"scheme_name": "scheme_alpha", "population_size": population},
            "mode": "async",
        },
        headers={"Authorization": f"Bearer {token}"},
        timeout=30.0,
    )
    assert response.status_code == 202, response.text
    return str(response.json()["instance_id"])


def run_of(url: str, token: str, instance_id: str) -> dict[str, Any]:
    response = httpx2.get(f"{url}/workflows/{instance_id}", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert response.status_code == 200, response.text
    return dict(response.json())


def wait_for_progress(url: str, token: str, instance_id: str, *, timeout: float = 60.0) -> None:
    """Until the fan-out step has finished some citizens, the run still running."""
    deadline = time.monotonic() + timeout
    while True:
        run = run_of(url, token, instance_id)
        assert run["status"] == "running", f"the run ended before it could be interrupted: {run}"
        if run["progress"]["items_done"] > 0:
            return
        assert time.monotonic() < deadline, f"no progress within {timeout} s: {run}"
        time.sleep(0.05)


def wait_for_end(url: str, token: str, instance_id: str, *, timeout: float = 240.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        run = run_of(url, token, instance_id)
        if run["status"] not in {"running", "pending", "queued"}:
            return run
        assert time.monotonic() < deadline, f"the run did not end within {timeout} s: {run}"
        time.sleep(0.5)


def audit_entries(url: str, token: str, instance_id: str) -> list[dict[str, Any]]:
    response = httpx2.get(
        f"{url}/workflows/{instance_id}/audit", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    return list(response.json())
