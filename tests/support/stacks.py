"""A system of a test's own on the session's PostgreSQL: a database with the services' roles, an audit service
serving a log of its own there, and an orchestrator replica, for tests that plant entries in the log or count it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from audit_service.config import AuditSettings
from audit_service.server import start as start_audit_service
from orchestrator.config import OrchestratorSettings
from tests.support.background_loop import BackgroundLoop, serve_on_loopback
from tests.support.databases import SetUpDatabase, set_up_database
from tests.support.orchestrators import replica_settings, serving


@dataclass(frozen=True)
class OwnStack:
    database: SetUpDatabase
    audit_target: str
    # The settings of an orchestrator on this database and log (a replica of its own, short leases).
    orchestrator_settings: OrchestratorSettings
    orchestrator_target: str


@contextmanager
def audit_service_on(
    background_loop: BackgroundLoop, audit_settings: AuditSettings, database: SetUpDatabase
) -> Iterator[str]:
    """The session's audit service settings (its key, its certificate) serving `database`'s log."""
    settings = audit_settings.model_copy(update={"database_url": database.accounts.audit})
    with serve_on_loopback(background_loop, start_audit_service(settings)) as target:
        yield target


@contextmanager
def own_stack(
    postgres_server_url: str,
    background_loop: BackgroundLoop,
    *,
    audit_settings: AuditSettings,
    orchestrator_settings: OrchestratorSettings,
    name_prefix: str,
    **orchestrator_overrides: Any,
) -> Iterator[OwnStack]:
    """A database of its own with an audit service and an orchestrator replica on it; the session's evaluator
    unless `evaluator_target` is among the overrides."""
    with (
        set_up_database(postgres_server_url, name_prefix=name_prefix) as database,
        audit_service_on(background_loop, audit_settings, database) as audit_target,
    ):
        settings = replica_settings(
            orchestrator_settings,
            database_url=database.accounts.orchestrator,
            audit_target=audit_target,
            **orchestrator_overrides,
        )
        with serving(background_loop, settings) as orchestrator_target:
            yield OwnStack(
                database=database,
                audit_target=audit_target,
                orchestrator_settings=settings,
                orchestrator_target=orchestrator_target,
            )
