"""The process that verifies the whole log for the audit service: one at a time, at low CPU priority.

A verification rehashes every entry in Python. On a thread of the service it held the
interpreter's lock for seconds at a stretch, and every append waited its turn for it (eligibility
checks several times slower at p99 while one ran, `python -m bench.verify_load`). In a process of
its own it shares only the CPU, and at a lower priority (`nice`), so the appends' short bursts of
work go first.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from audit_service.errors import AuditError, AuditStoreUnavailableError
from audit_service.log.store import AuditStore, is_unavailable
from audit_service.signing.keys import PublicKey
from audit_service.tree.integrity import IntegrityReport, LogVerifier
from civicflow.database import create_engine

log = logging.getLogger(__name__)

# Added to the worker's niceness: the scheduler runs the service's own threads (appends, proofs) first.
NICENESS = 10

_verifier: LogVerifier | None = None  # the worker process's own, made by _open


class VerificationWorker:
    """A process, started on the first verification, that verifies with its own database connection."""

    def __init__(self, database_url: str, public_key: PublicKey) -> None:
        self._arguments = (database_url, public_key.pem)
        # Made at the first verification: a pool starts multiprocessing's resource tracker, a process a
        # service that is never asked to verify has no use for.
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False

    async def verify(self) -> IntegrityReport:
        if self._pool is None:
            self._pool = self._new_pool()
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, _verify)
        except BrokenProcessPool:
            # The worker died (killed, out of memory): the next verification starts a new one.
            if not self._closed:
                self._pool = self._new_pool()
            raise AuditStoreUnavailableError("the verification worker stopped; ask again") from None

    def close(self) -> None:
        """Stops the worker at once: a verification only reads, so one cut short loses nothing."""
        self._closed = True
        if self._pool is None:
            return
        processes = list(self._pool._processes.values())  # the executor offers no way to stop a running task
        self._pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()

    def _new_pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: the service runs gRPC threads, which a forked child would inherit half-copied.
        return ProcessPoolExecutor(
            max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_open, initargs=self._arguments
        )


def _open(database_url: str, public_key_pem: str) -> None:
    global _verifier
    os.nice(NICENESS)
    engine = create_engine(database_url, application_name="audit_service_verify", pool_size=1)
    _verifier = LogVerifier(AuditStore(engine), PublicKey.from_pem(public_key_pem.encode()))


def _verify() -> IntegrityReport:
    """Runs in the worker; what it raises crosses back pickled, so only the service's own errors leave it."""
    assert _verifier is not None, "the worker's initializer makes the verifier"
    try:
        return _verifier.verify()
    except AuditError:
        raise
    except Exception as error:
        if is_unavailable(error):
            raise AuditStoreUnavailableError("the audit database is unavailable") from None
        # A driver's exception may not survive pickling: its traceback is written here, a plain error crosses.
        log.exception("the verification failed")
        raise RuntimeError("the verification failed") from None
