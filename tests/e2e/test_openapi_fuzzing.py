"""Schemathesis against the real gateway and services: every documented route, fuzzed, answers no 5xx.

The gateway's own OpenAPI document drives schemathesis's four phases (its examples, coverage of
each schema's edges, random fuzzing, and stateful sequences that feed one answer's ids into the
next request), with an admin's token from the session's real issuer, so that requests get past
the token check and reach validation and the services. MAX_EXAMPLES keeps the run well under a
minute in `make test`; a larger value searches harder.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, events, from_schema
from schemathesis.python import asgi

from audit_service.config import AuditSettings
from civicflow.auth.principals import Role
from gateway.app import create_app
from gateway.config import GatewaySettings
from orchestrator.config import OrchestratorSettings
from tests.support.background_loop import BackgroundLoop
from tests.support.credentials import Credentials
from tests.support.stacks import own_stack

MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "40"))
SEED = 13
# What only an exception's own text, a traceback or a database would put in an answer.
INTERNALS = re.compile(r"Traceback|<class |psycopg2|sqlalchemy|rfc8785|CONTEXT: |\w+(Error|Exception):")
PHASES = ("examples", "coverage", "fuzzing", "stateful")


@schemathesis.check
def no_internals_on_the_wire(ctx: Any, response: Any, case: Any) -> bool | None:
    """No answer, whatever its status, names an exception class, a library or a traceback."""
    if found := INTERNALS.search(response.text or ""):
        raise AssertionError(f"the answer shows {found.group(0)!r}: {response.text[:300]}")
    return None


def fuzzing_config(token: str) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "headers": {"Authorization": f"Bearer {token}"},
            "generation": {"max-examples": MAX_EXAMPLES, "database": "none"},
            "phases": {phase: {"enabled": True} for phase in PHASES},
            "checks": {
                "enabled": False,
                "not_a_server_error": {"enabled": True},
                "no_internals_on_the_wire": {"enabled": True},
            },
            "max-stream-events": 5,
        }
    )


@pytest.fixture(scope="module")
def fuzzed_settings(
    postgres_server_url: str,
    background_loop: BackgroundLoop,
    audit_settings: AuditSettings,
    orchestrator_settings: OrchestratorSettings,
    gateway_settings: GatewaySettings,
) -> Iterator[GatewaySettings]:
    """The gateway's settings for an orchestrator and audit service on a database of their own: as an admin, the
    fuzzer drafts and publishes scheme versions and cancels runs, which other tests' stories must never meet."""
    with own_stack(
        postgres_server_url,
        background_loop,
        audit_settings=audit_settings,
        orchestrator_settings=orchestrator_settings,
        name_prefix="civicflow_fuzzed",
    ) as stack:
        yield gateway_settings.model_copy(
            update={"orchestrator_target": stack.orchestrator_target, "audit_target": stack.audit_target}
        )


@pytest.fixture(scope="module")
def finished_run(fuzzed_settings: GatewaySettings, credentials: Credentials) -> Iterator[list[events.EngineEvent]]:
    """One whole run. Schemathesis calls an app of its own, built as the session's is: it starts and ends that
    app's lifespan on its own event loop, which the session's app must not share."""
    config = fuzzing_config(credentials.token(Role.ADMIN))
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(fuzzed_settings), config=config)
    try:
        yield list(from_schema(schema).execute())
    finally:
        asgi.shutdown_lifespans()


def test_every_phase_ran_and_sent_requests(finished_run: list[events.EngineEvent]) -> None:
    finished = {
        event.phase.name.value: event.status for event in finished_run if isinstance(event, events.PhaseFinished)
    }
    scenarios = Counter(event.phase.value for event in finished_run if isinstance(event, events.ScenarioFinished))

    assert {phase: finished.get(phase) for phase in PHASES} == dict.fromkeys(PHASES, Status.SUCCESS)
    assert all(scenarios[phase] > 0 for phase in PHASES), scenarios


def test_schemathesis_finds_no_5xx_and_no_internals(finished_run: list[events.EngineEvent]) -> None:
    [engine_finished] = [event for event in finished_run if isinstance(event, events.EngineFinished)]
    errors = [event for event in finished_run if isinstance(event, events.NonFatalError | events.FatalError)]

    assert not errors, [str(getattr(e, "value", getattr(e, "exception", e))) for e in errors]
    assert engine_finished.failures == [], "\n".join(f"{f.title}: {f.message}" for f in engine_finished.failures)
