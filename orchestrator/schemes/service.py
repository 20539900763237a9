"""What can be done with scheme versions: read them, draft one, publish one; each change audited.

A change and its audit entry must not come apart. The database and the audit service share no
transaction, so the order is: change the row inside a transaction (holding the scheme's lock),
append the entry, and commit only once the audit service has stored it. If the audit service
cannot be reached (within AUDIT_TIMEOUT), the transaction rolls back and the caller is told
UNAVAILABLE: nothing changed, and sending the same request again does the whole change again,
with a new entry. So no version is ever drafted or published without its entry. The converse
cannot be ruled out: if the database fails between the entry and the commit (or an entry given
up on arrives late), the log holds an entry of a change that did not happen; its key and times
(audit_records.py) match no row, which is how an auditor tells it from the entry that counts.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack, asynccontextmanager
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa

from civicflow.auth.access import authorize_second_pair_of_eyes
from civicflow.auth.principals import Principal
from civicflow.rules.document import parse_document
from civicflow.v1 import audit_pb2
from orchestrator.errors import (
    DatabaseUnavailableError,
    SchemeNotFoundError,
    SchemeVersionConflictError,
)
from orchestrator.runs.audit_client import AuditClient
from orchestrator.schemes.audit_records import creation_record, publication_record
from orchestrator.schemes.documents import SchemeDocuments
from orchestrator.schemes.model import PUBLISHED, SchemeSummary, SchemeVersion, checked_name, checked_version
from orchestrator.schemes.store import SchemeBusyError, SchemeVersionStore

# Another change of the same scheme holding its lock: how often to try again, and how long beyond its audit deadline.
BUSY_POLL_SECONDS = 0.02
BUSY_MARGIN_SECONDS = 5.0


def today_utc() -> date:
    return datetime.now(UTC).date()


class SchemeService:
    """Scheme versions for the RPCs and the fetch_scheme_rules task. Who may call what is decided by the caller
    (access.authorize), except four eyes on publishing, which needs the draft: decided here."""

    def __init__(
        self,
        store: SchemeVersionStore,
        audit: AuditClient,
        *,
        audit_timeout: float,
        today: Callable[[], date] = today_utc,
    ) -> None:
        self._store = store
        self._audit = audit
        self._audit_timeout = audit_timeout
        self.today = today
        self.documents = SchemeDocuments(store)

    async def list_schemes(self) -> list[SchemeSummary]:
        """Every scheme, with the version in force today (UTC)."""
        return await asyncio.to_thread(self._store.summaries, self.today())

    async def versions(self, scheme_name: str) -> list[SchemeVersion]:
        """The scheme's versions, oldest first, without documents; SchemeNotFoundError for an unknown scheme."""
        versions = await asyncio.to_thread(self._store.versions, checked_name(scheme_name))
        if not versions:
            raise await self._unknown(scheme_name)
        return versions

    async def version(self, scheme_name: str, version: int) -> SchemeVersion:
        """One version with its document; SchemeNotFoundError if the scheme or the version does not exist."""
        found = await asyncio.to_thread(self._store.version, checked_name(scheme_name), checked_version(version))
        if found is None:
            raise await self._missing(scheme_name, version)
        return found

    async def in_force(self, scheme_name: str, on: date) -> SchemeVersion | None:
        """The published version with the latest effective_from on or before `on`, without its document."""
        return await asyncio.to_thread(self._store.in_force, scheme_name, on)

    async def scheme_names(self) -> list[str]:
        return await asyncio.to_thread(self._store.scheme_names)

    async def create_draft(self, scheme_name: str, content: Any, *, principal: Principal) -> SchemeVersion:
        """Stores the document as the scheme's next version, a draft; DocumentError with every problem if it is bad."""
        name = checked_name(scheme_name)
        # Off the event loop: checking a large document takes a while, and every RPC of the replica waits on the loop.
        document = await asyncio.to_thread(parse_document, content, field="document")
        async with self._transaction(name) as connection:
            created = await asyncio.to_thread(
                self._store.insert_draft,
                connection,
                name,
                document=document.content,
                rule_hash=document.rule_hash,
                created_by=principal.subject,
            )
            await self._audited(creation_record(created))
        return created

    async def publish(
        self, scheme_name: str, version: int, *, effective_from: date, principal: Principal
    ) -> SchemeVersion:
        """Publishes a draft from `effective_from`: not by its author (PermissionDeniedError), not twice, and not
        before the latest published version's date (SchemeVersionConflictError; the same date is allowed)."""
        name, number = checked_name(scheme_name), checked_version(version)
        async with self._transaction(name) as connection:
            draft = await asyncio.to_thread(self._store.locked_version, connection, name, number)
            if draft is None:
                raise await self._missing(name, number)
            if draft.status == PUBLISHED:
                raise SchemeVersionConflictError(
                    f"{draft.label} is already published (from {draft.effective_from});"
                    " a published version never changes"
                )
            authorize_second_pair_of_eyes(principal, drafted_by=draft.created_by, what=draft.label)
            latest = await asyncio.to_thread(self._store.latest_effective_from, connection, name)
            if latest is not None and effective_from < latest:
                raise SchemeVersionConflictError(
                    f"{draft.label} cannot take effect from {effective_from}: a published version of {name}"
                    f" takes effect from {latest}, and a new one cannot start before it"
                )
            published = await asyncio.to_thread(
                self._store.mark_published,
                connection,
                name,
                number,
                effective_from=effective_from,
                published_by=principal.subject,
            )
            assert published is not None, "the draft is locked"
            await self._audited(publication_record(published))
        return published

    async def _audited(self, record: audit_pb2.AuditRecord) -> None:
        await self._audit.append_before_commit([record], timeout=self._audit_timeout, what=f"'{record.step_name}'")

    @asynccontextmanager
    async def _transaction(self, name: str) -> AsyncIterator[sa.Connection]:
        """The store's transaction for the scheme, its blocking calls off the event loop: it commits on success.

        Changes of one scheme wait for each other here, on the event loop, for as long as a change may take.
        """
        stack = ExitStack()
        deadline = asyncio.get_running_loop().time() + self._audit_timeout + BUSY_MARGIN_SECONDS
        while True:
            try:
                connection = await asyncio.to_thread(stack.enter_context, self._store.transaction(name))
                break
            except SchemeBusyError:
                if asyncio.get_running_loop().time() > deadline:
                    raise DatabaseUnavailableError(
                        f"another change of scheme '{name}' is taking too long; send the request again"
                    ) from None
                await asyncio.sleep(random.uniform(BUSY_POLL_SECONDS / 2, BUSY_POLL_SECONDS))
        try:
            yield connection
        except BaseException as error:
            await asyncio.to_thread(stack.__exit__, type(error), error, error.__traceback__)
            raise
        await asyncio.to_thread(stack.close)

    async def _unknown(self, scheme_name: str) -> SchemeNotFoundError:
        return SchemeNotFoundError(f"unknown scheme '{scheme_name}' (known schemes: {await self._known()})")

    async def _missing(self, scheme_name: str, version: int) -> SchemeNotFoundError:
        versions = await asyncio.to_thread(self._store.versions, scheme_name)
        if not versions:
            return await self._unknown(scheme_name)
        return SchemeNotFoundError(
            f"scheme '{scheme_name}' has no version {version} (it has 1 to {versions[-1].version})"
        )

    async def _known(self) -> str:
        return ", ".join(await self.scheme_names()) or "none"
