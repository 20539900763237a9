"""The `civicflow` command line run in-process against the real app, as the end-to-end tests drive it."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi.testclient import TestClient
from rich.console import Console

from civicflow.auth.principals import Role
from civicflow_cli.main import main
from tests.support.credentials import Credentials


@dataclass(frozen=True)
class Ran:
    status: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class RunCommand(Protocol):
    """One command line run in-process against the real app, with the --token of the tests' person of `role`."""

    def __call__(self, *argv: str, terminal: bool = False, role: Role = Role.CASEWORKER) -> Ran: ...


def command_runner(gateway_client: TestClient, credentials: Credentials) -> RunCommand:
    """Runs one command line in-process against the real app; returns its exit status and what it printed."""

    def run(*argv: str, terminal: bool = False, role: Role = Role.CASEWORKER) -> Ran:
        out, err = io.StringIO(), io.StringIO()
        status = main(
            ["--token", credentials.token(role), *argv],
            client=gateway_client,
            console=Console(file=out, width=200, color_system=None),
            # A terminal draws the live progress; a file gets none.
            errors=Console(file=err, width=200, color_system=None, force_terminal=terminal),
        )
        return Ran(status=status, out=out.getvalue(), err=err.getvalue())

    return run
