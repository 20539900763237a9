"""Every example of README.md and docs/*.md runs against the real system and still prints the answer it shows.

Each document gets a fresh system, started as `make run` starts it (`python -m civicflow.launch`
on free loopback ports, never 8000, with a database of its own on the session's PostgreSQL:
embedded, or TEST_DATABASE_URL's). Its examples run in order, in one scratch directory, and its
shell blocks share one session: a variable assigned in one block is set in the next (a `cd` is
not kept). Before a block runs, its `localhost:8000` (and :50051, :50052, :50053) are rewritten
to the system's real ports; CIVICFLOW_URL and DATABASE_URL point at the system, PATH starts with
the test's Python environment (so `civicflow` and `python` are this checkout's) and ends with
pgserver's PostgreSQL client programs (`psql`), and `.venv/bin/python` and `.venv/bin/civicflow`
in the scratch directory are the test's, as they are in the repository. The launcher keeps its
certificate authority and its token issuer's key in the scratch directory's `.civicflow/`, where
`make run` keeps them in the repository's: `civicflow token issue` signs with the system's own key,
and `.civicflow/tls/ca.pem` is the authority its services' certificates come from.

An example fails when a command fails (bash runs with `set -euo pipefail`), when curl gets an
HTTP error whose status the shown answer does not show as `"status": <code>`, or when its output
no longer matches its answer (the rules are in tests/support/docs_examples.py). Examples marked
`<!-- docs-test: skip (why) -->` are reported as skipped with their reason; after a failure the
rest of that document is skipped too, since its state is then unknown.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx2
import pytest

from bench.launcher_process import launcher_process
from civicflow.launch.local_database import scratch_database
from civicflow.launch.settings import free_port_environment
from civicflow.settings import REPO_ROOT
from tests.support.databases import launcher_roles
from tests.support.docs_examples import Example, Mismatch, check_answer, collect

DOCUMENTS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
COLLECTED = collect(DOCUMENTS, REPO_ROOT)
STARTUP_SECONDS = 60.0
EXAMPLE_SECONDS = 120.0
# The ports examples are written with, as `make run` serves them, and the settings that move each.
DOCUMENTED_PORTS = {
    "8000": "GATEWAY_PORT",
    "50051": "ORCHESTRATOR_PORT",
    "50052": "EVALUATOR_PORT",
    "50053": "AUDIT_PORT",
}
_ADDRESS = re.compile(r"\b(?:localhost|127\.0\.0\.1):(8000|50051|50052|50053)\b")
_HTTP_STATUS = re.compile(r"^docs-test: HTTP (\d{3}) (\S+) (\S+)$", re.MULTILINE)
# pgserver's own PostgreSQL programs; found without importing pgserver, which warns on import.
_PGSERVER = importlib.util.find_spec("pgserver")
PGSERVER_BIN = Path(_PGSERVER.origin if _PGSERVER and _PGSERVER.origin else ".").resolve().parent / "pginstall" / "bin"

# Runs before every shell block: the previous blocks' variables, and a curl that reports each
# response's status on standard error (curl -s alone exits 0 on a 404).
_PRELUDE = """\
set -euo pipefail
shopt -s inherit_errexit
if [ -f "$DOCS_TEST_STATE" ]; then source "$DOCS_TEST_STATE"; fi
curl() { command curl --write-out '%{stderr}docs-test: HTTP %{http_code} %{method} %{url_effective}\\n' "$@"; }
"""
# Runs after it: keeps the variables it set for the next block, bash's own and the test's aside.
_EPILOGUE = """
declare -p $(compgen -v | grep -vxF -f "$DOCS_TEST_BASH_VARIABLES" | grep -v '^DOCS_TEST_' || true) \
    > "$DOCS_TEST_STATE"
"""


@dataclass
class DocumentSystem:
    """One document's running system, scratch directory and shell state."""

    document: str
    workdir: Path
    ports: dict[str, str]
    database_url: str
    log: Path
    # What went wrong before, if anything: the rest of the document is not run after it.
    failed: str | None = None

    def rewrite(self, code: str) -> str:
        return _ADDRESS.sub(lambda found: f"127.0.0.1:{self.ports[DOCUMENTED_PORTS[found.group(1)]]}", code)

    def environment(self) -> dict[str, str]:
        bash_variables = self.workdir / ".docs-test-bash-variables"
        if not bash_variables.exists():
            names = subprocess.run(
                ["bash", "--noprofile", "--norc", "-c", "compgen -v"],
                env={},
                capture_output=True,
                text=True,
                check=True,
            )
            bash_variables.write_text(names.stdout)
        return {
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", ""), str(PGSERVER_BIN)]),
            "HOME": os.environ.get("HOME", str(self.workdir)),
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            # The command line's tables are as wide as the terminal; the docs show them 80 columns wide.
            "COLUMNS": "80",
            "TMPDIR": os.environ.get("TMPDIR", "/tmp"),
            "CIVICFLOW_URL": f"http://127.0.0.1:{self.ports['GATEWAY_PORT']}",
            # libpq's form of the URL, for psql: no SQLAlchemy driver name.
            "DATABASE_URL": re.sub(r"^postgresql\+\w+://", "postgresql://", self.database_url),
            "DOCS_TEST_STATE": str(self.workdir / ".docs-test-state.sh"),
            "DOCS_TEST_BASH_VARIABLES": str(bash_variables),
        }

    def run(self, example: Example) -> subprocess.CompletedProcess[str]:
        code = self.rewrite(example.code)
        if example.language == "shell":
            command = ["bash", "--noprofile", "--norc", "-c", _PRELUDE + code + _EPILOGUE]
        else:
            script = self.workdir / f".docs-test-example-{example.line}.py"
            script.write_text(code)
            command = [sys.executable, str(script)]
        return subprocess.run(
            command,
            cwd=self.workdir,
            env=self.environment(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=EXAMPLE_SECONDS,
        )

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@dataclass
class DocumentSystems:
    """Starts a fresh system for each document in turn; only one runs at a time."""

    postgres_server_url: str
    workdirs: pytest.TempPathFactory
    current: DocumentSystem | None = None
    _stack: ExitStack = field(default_factory=ExitStack)

    def for_document(self, document: str) -> DocumentSystem:
        if self.current is not None and self.current.document == document:
            return self.current
        self.close()
        workdir = self.workdirs.mktemp(Path(document).stem.lower())
        # `.venv/bin/python`, as the examples call it from the repository's root. A script, not a
        # link: a virtual environment's python found through a link elsewhere is not in the environment.
        programs = workdir / ".venv" / "bin"
        programs.mkdir(parents=True)
        for name, command in (("python", f'"{sys.executable}"'), ("civicflow", f'"{sys.executable}" -m civicflow_cli')):
            (programs / name).write_text(f'#!/bin/sh\nexec {command} "$@"\n')
            (programs / name).chmod(0o755)
        database_url = self._stack.enter_context(scratch_database(self.postgres_server_url, prefix="civicflow_docs"))
        ports = free_port_environment()
        log = workdir.parent / f"{workdir.name}-services.log"
        key = workdir.parent / f"{workdir.name}-key.pem"
        roles = self._stack.enter_context(
            launcher_roles(database_url, workdir / ".civicflow" / "database-passwords.json")
        )
        self._stack.enter_context(_launched(ports, roles, log, key=key, credentials=workdir / ".civicflow"))
        self.current = DocumentSystem(document, workdir, ports, database_url, log, failed="starting its system")
        _wait_until_healthy(self.current)
        self.current.failed = None
        return self.current

    def close(self) -> None:
        self.current = None
        self._stack.close()


@contextmanager
def _launched(
    ports: dict[str, str], database: dict[str, str], log: Path, *, key: Path, credentials: Path
) -> Iterator[None]:
    """`make run`'s launcher on `ports` and `database`, its certificates and token issuer's key under
    `credentials` as `make run` has them under .civicflow/; stopped with SIGINT, as Ctrl-C stops it."""
    environment = {
        **os.environ,
        **ports,
        **database,
        "AUDIT_SIGNING_KEY_PATH": str(key),
        "TLS_DIR": str(credentials / "tls"),
        "TOKEN_ISSUER_KEY_PATH": str(credentials / "token-issuer-key.pem"),
        "EVALUATORS": "1",
    }
    with launcher_process(REPO_ROOT, environment, log):
        yield


def _wait_until_healthy(system: DocumentSystem) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    with httpx2.Client(base_url=f"http://127.0.0.1:{system.ports['GATEWAY_PORT']}", timeout=2.0) as client:
        while time.monotonic() < deadline:
            try:
                if client.get("/healthz").status_code == 200:
                    return
            except httpx2.TransportError:
                pass
            time.sleep(0.1)
    pytest.fail(f"the system for {system.document} did not become healthy:\n{system.logs()}")


@pytest.fixture(scope="session")
def document_systems(postgres_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DocumentSystems]:
    systems = DocumentSystems(postgres_server_url, tmp_path_factory)
    try:
        yield systems
    finally:
        systems.close()


def test_docs_examples_are_well_formed() -> None:
    assert not COLLECTED.problems, "\n".join(COLLECTED.problems)
    assert any(example.skip is None for example in COLLECTED.examples), "no example runs"


@pytest.mark.parametrize("example", COLLECTED.examples, ids=[example.name for example in COLLECTED.examples])
def test_docs_example(example: Example, document_systems: DocumentSystems) -> None:
    if example.skip is not None:
        pytest.skip(f"{example.name} not run ({example.skip}): {example.first_line}")
    system = document_systems.for_document(example.document)
    if system.failed is not None:
        pytest.skip(f"{example.name} not run: {system.failed} failed before it")
    system.failed = f"the example at {example.name}"
    result = system.run(example)
    statuses = _HTTP_STATUS.findall(result.stderr)
    stderr = _HTTP_STATUS.sub("", result.stderr).strip()
    report = (
        f"\n--- {example.name}:\n{example.code}--- standard output:\n{result.stdout.rstrip()}\n"
        f"--- standard error:\n{stderr}\n--- HTTP: {statuses}"
    )
    if result.returncode != 0:
        pytest.fail(f"{example.name} exited with status {result.returncode}{report}", pytrace=False)
    shown_statuses = _shown_error_statuses(example)
    for status, method, url in statuses:
        if int(status) >= 400 and status not in shown_statuses:
            pytest.fail(
                f"{example.name}: {method} {url} answered HTTP {status}, which its answer does not show{report}",
                pytrace=False,
            )
    if example.answer is not None:
        try:
            check_answer(example.answer, result.stdout)
        except Mismatch as mismatch:
            problem = str(mismatch)
        else:
            problem = None
        if problem is not None:
            pytest.fail(
                f"{example.name}: the output no longer matches the answer at line {example.answer.line}:"
                f" {problem}{report}\n--- the answer shown:\n{example.answer.text}",
                pytrace=False,
            )
    system.failed = None


def _shown_error_statuses(example: Example) -> set[str]:
    """The HTTP statuses the example's answer shows in the error shape (`"status": 409`): those are expected."""
    return set(re.findall(r'"status":\s*(\d{3})\b', example.answer.text)) if example.answer else set()
