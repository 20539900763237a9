"""`civicflow token issue` and the token of every other command, run as a person runs them: in processes of their
own, from a project directory holding `.civicflow/`, against the real gateway served over HTTP on loopback."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
import uvicorn

from civicflow.auth.principals import Principal, Role
from civicflow.auth.tokens import TokenSettings, TokenVerifier
from gateway.app import create_app
from gateway.config import GatewaySettings
from tests.support.bad_tokens import BAD_TOKENS
from tests.support.credentials import Credentials

CIVICFLOW = str(Path(sys.executable).with_name("civicflow"))
ISSUER_KEY = Path(".civicflow/token-issuer-key.pem")
PUBLIC_KEY = Path(".civicflow/token-issuer-key.pub.pem")


@pytest.fixture(scope="module")
def gateway_url(gateway_settings: GatewaySettings) -> Iterator[str]:
    """The real app served by uvicorn, as `python -m gateway` serves it, on a loopback port of its own."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(gateway_settings), log_config=None, loop="asyncio"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, name="gateway", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the gateway did not start"
        time.sleep(0.02)
    yield f"http://127.0.0.1:{listening.getsockname()[1]}"
    server.should_exit = True
    thread.join(timeout=30)
    listening.close()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project directory as `make run` leaves it, before any token was minted: `.civicflow/` and nothing in it."""
    (tmp_path / ".civicflow").mkdir()
    return tmp_path


@pytest.fixture
def session_project(project: Path, credentials: Credentials) -> Path:
    """A project directory whose `.civicflow/` holds the key of the issuer the session's services trust."""
    shutil.copy(credentials.issuer_key, project / ISSUER_KEY)
    shutil.copy(credentials.token_public_key, project / PUBLIC_KEY)
    return project


def run(
    *argv: str, cwd: Path, url: str = "http://127.0.0.1:9", token: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`civicflow ARGV...` in a process of its own, with no token or issuer key from the test's environment."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"CIVICFLOW_TOKEN", "CIVICFLOW_TOKEN_ISSUER_KEY", "CIVICFLOW_URL"}
    }
    environment["CIVICFLOW_URL"] = url
    if token is not None:
        environment["CIVICFLOW_TOKEN"] = token
    return subprocess.run(
        [CIVICFLOW, *argv], cwd=cwd, env=environment, capture_output=True, text=True, timeout=60, check=False
    )


def shell(script: str, *, cwd: Path, url: str = "http://127.0.0.1:9") -> subprocess.CompletedProcess[str]:
    """A POSIX shell script with the installed `civicflow` on its PATH, as the README's quick start runs."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("CIVICFLOW_")}
    environment["PATH"] = f"{Path(CIVICFLOW).parent}{os.pathsep}{environment.get('PATH', '')}"
    environment["CIVICFLOW_URL"] = url
    return subprocess.run(
        ["sh", "-c", script], cwd=cwd, env=environment, capture_output=True, text=True, timeout=60, check=False
    )


def test_token_issue_prints_the_bare_token_and_nothing_else(project: Path) -> None:
    issued = run("token", "issue", "--subject", "alice", "--role", "caseworker", cwd=project)

    assert (issued.returncode, issued.stderr) == (0, "")
    token = issued.stdout.removesuffix("\n")
    assert issued.stdout == f"{token}\n" and token.count(".") == 2 and token.isprintable() and " " not in token
    assert stat.S_IMODE((project / ISSUER_KEY).stat().st_mode) == 0o600
    verifier = TokenVerifier(TokenSettings(token_public_key_path=project / PUBLIC_KEY))
    assert verifier.verify(token) == Principal("alice", frozenset({Role.CASEWORKER}))


def test_a_shell_captures_the_token_with_command_substitution(project: Path) -> None:
    captured = shell(
        "TOKEN=$(civicflow token issue --subject alice --role caseworker --role auditor --ttl 60) && "
        'printf %s "$TOKEN"',
        cwd=project,
    )

    assert (captured.returncode, captured.stderr) == (0, "")
    verifier = TokenVerifier(TokenSettings(token_public_key_path=project / PUBLIC_KEY))
    assert verifier.verify(captured.stdout) == Principal("alice", frozenset({Role.CASEWORKER, Role.AUDITOR}))
    claims = jwt.decode(captured.stdout, options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 60


def test_the_second_token_is_signed_with_the_key_the_first_made(project: Path) -> None:
    first = run("token", "issue", "--subject", "alice", "--role", "analyst", cwd=project)
    key = (project / ISSUER_KEY).read_bytes()
    second = run("token", "issue", "--subject", "bob", "--role", "admin", cwd=project)

    assert (project / ISSUER_KEY).read_bytes() == key
    verifier = TokenVerifier(TokenSettings(token_public_key_path=project / PUBLIC_KEY))
    assert verifier.verify(first.stdout.strip()).subject == "alice"
    assert verifier.verify(second.stdout.strip()).subject == "bob"


@pytest.mark.parametrize(
    "argv",
    [
        ("--subject", "alice", "--role", "superuser"),
        ("--subject", "alice", "--role", "Caseworker"),
        ("--subject", "alice"),
        ("--role", "caseworker"),
        ("--subject", "alice", "--role", "caseworker", "--ttl", "0"),
    ],
)
def test_an_invalid_token_request_is_a_usage_error_and_mints_nothing(argv: tuple[str, ...], project: Path) -> None:
    refused = run("token", "issue", *argv, cwd=project)

    assert refused.returncode == 2
    assert refused.stdout == ""
    assert refused.stderr.startswith("usage: civicflow token issue")
    assert list((project / ".civicflow").iterdir()) == []


def test_a_command_without_a_token_is_refused_by_the_gateway_and_exits_1(project: Path, gateway_url: str) -> None:
    refused = run("templates", cwd=project, url=gateway_url)

    assert refused.returncode == 1
    assert refused.stdout == ""
    assert refused.stderr == "error 401 UNAUTHENTICATED: no bearer token: send 'Authorization: Bearer <token>'\n"


def test_a_command_with_a_token_that_proves_nothing_exits_1(
    project: Path, gateway_url: str, credentials: Credentials
) -> None:
    refused = run("--token", BAD_TOKENS["expired"](credentials), "templates", cwd=project, url=gateway_url)

    assert refused.returncode == 1
    assert refused.stderr == "error 401 UNAUTHENTICATED: the token has expired\n"


def test_the_token_is_taken_from_the_option_or_the_environment(
    project: Path, gateway_url: str, credentials: Credentials
) -> None:
    token = credentials.token(Role.CASEWORKER)

    by_option = run("templates", "--json", "--token", token, cwd=project, url=gateway_url)
    by_environment = run("templates", "--json", cwd=project, url=gateway_url, token=token)
    # The option wins over the environment.
    both = run("templates", "--token", token, cwd=project, url=gateway_url, token="not-a-token")

    assert (by_option.returncode, by_option.stderr) == (0, "")
    assert by_environment.returncode == 0 and by_environment.stdout == by_option.stdout
    assert '"eligibility_check"' in by_option.stdout
    assert both.returncode == 0, both.stderr


def test_roles_that_do_not_allow_the_command_exit_1_with_403(
    project: Path, gateway_url: str, credentials: Credentials
) -> None:
    refused = run(
        "run",
        "eligibility_check",
        "-i",
        "citizen_id=CIT-0000701",
        "-i",
        "scheme_name=scheme_alpha",
        cwd=project,
        url=gateway_url,
        token=credentials.token(Role.ANALYST),
    )

    assert refused.returncode == 1
    assert refused.stderr.startswith("error 403 PERMISSION_DENIED: 'analyst-1' may not run workflow eligibility_check")


def test_a_token_minted_in_the_project_runs_a_workflow_as_its_subject(
    session_project: Path, gateway_url: str, credentials: Credentials
) -> None:
    ran = shell(
        "export CIVICFLOW_TOKEN=$(civicflow token issue --subject alice --role caseworker) && "
        "civicflow run eligibility_check --sync -i citizen_id=CIT-0000702 -i scheme_name=scheme_alpha --json",
        cwd=session_project,
        url=gateway_url,
    )
    assert ran.returncode == 0, ran.stderr
    instance_id = json.loads(ran.stdout)["instance_id"]

    shown = run(
        "show", instance_id, "--json", cwd=session_project, url=gateway_url, token=credentials.token(Role.ADMIN)
    )

    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["actor"] == "alice"
