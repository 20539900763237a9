"""The embedded PostgreSQL of `make run` as a supervised process: the postmaster in the foreground, under the launcher.

pgserver's wheel supplies the binaries and initialises the data directory once; the launcher
then runs `postgres` itself, like any service, so that a postmaster that dies is noticed and
started again on the same data directory and the same socket, and a stop comes in its turn.
"""

from __future__ import annotations

import logging
import os
import pwd
import signal
import stat
import subprocess
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from civicflow.launch.process_plan import STOP_DATABASE, ProcessSpec

log = logging.getLogger(__name__)

# Only the name of the Unix socket (.s.PGSQL.5432): the server listens on no TCP address.
SOCKET_PORT = 5432
SUPERUSER = "postgres"
# pgserver's own choice of system user when run as root, which PostgreSQL refuses to run as.
SYSTEM_USER_WHEN_ROOT = "pgserver"


class PostgresStartError(RuntimeError):
    """The embedded PostgreSQL did not come up (its own output, above, says why)."""


@dataclass(frozen=True)
class EmbeddedPostgres:
    spec: ProcessSpec
    socket_dir: Path

    def url(self, database: str = "postgres") -> str:
        """A superuser URL for the psycopg2 driver, over the Unix socket."""
        return f"postgresql://{SUPERUSER}:@/{database}?host={self.socket_dir}&port={SOCKET_PORT}"

    def accepts_connections(self) -> bool:
        try:
            psycopg2.connect(
                host=str(self.socket_dir), port=SOCKET_PORT, user=SUPERUSER, dbname="postgres", connect_timeout=2
            ).close()
        except psycopg2.OperationalError:
            return False
        return True


def prepare_postgres(data_dir: Path) -> EmbeddedPostgres:
    """Initialises `data_dir` on first use; answers the process that serves it. Starts nothing."""
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers) and falls back to /tmp.
        warnings.simplefilter("ignore")
        from pgserver._commands import (  # type: ignore[attr-defined]  # made at import, one per binary
            POSTGRES_BIN_PATH,
            initdb,
            pg_ctl,
        )
        from pgserver.postgres_server import PostgresServer
        from pgserver.utils import PostmasterInfo, find_suitable_socket_dir

    data_dir = data_dir.expanduser().resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    user = _system_user(data_dir, POSTGRES_BIN_PATH)
    if not (data_dir / "PG_VERSION").exists():
        log.info("initialising embedded PostgreSQL", extra={"data_dir": str(data_dir)})
        initdb(["--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", SUPERUSER], pgdata=data_dir, user=user)
    leftover = PostmasterInfo.read_from_pgdata(data_dir)
    if leftover is not None and leftover.is_running():
        # A server an earlier launcher left running (one that started it with pg_ctl): ours takes over.
        log.warning("stopping a PostgreSQL left running on this data directory", extra={"pid": leftover.pid})
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=user)
    socket_dir = find_suitable_socket_dir(data_dir, PostgresServer.runtime_path)
    if user is not None and socket_dir != data_dir:
        socket_dir.chmod(0o777)
    argv = (
        str(POSTGRES_BIN_PATH / "postgres"),
        *("-D", str(data_dir)),
        # No TCP address: the socket is the only way in, as pgserver runs it.
        *("-h", ""),
        *("-k", str(socket_dir)),
        *("-p", str(SOCKET_PORT)),
    )
    spec = ProcessSpec(
        name="postgres",
        module="postgres",
        port=SOCKET_PORT,
        argv=argv,
        stop_stage=STOP_DATABASE,
        # Fast shutdown: by its turn every client has stopped, and nothing is left to wait for.
        stop_signal=signal.SIGINT,
        user=user,
    )
    return EmbeddedPostgres(spec=spec, socket_dir=socket_dir)


def wait_until_accepting(
    postgres: EmbeddedPostgres, *, running: Callable[[], bool], abandoned: Callable[[], bool], timeout: float = 60.0
) -> bool:
    """True once the server accepts connections, False if `abandoned()` (a stop) came first.

    Raises if the server exits first or takes longer than `timeout`.
    """
    deadline = time.monotonic() + timeout
    while not postgres.accepts_connections():
        if abandoned():
            return False
        if not running():
            raise PostgresStartError("the embedded PostgreSQL exited while starting")
        if time.monotonic() > deadline:
            raise PostgresStartError(f"the embedded PostgreSQL did not accept connections within {timeout:g} s")
        time.sleep(0.1)
    return True


def _system_user(data_dir: Path, binaries: Path) -> str | None:
    """None unless running as root; then pgserver's unprivileged user, given the data directory and the binaries."""
    if os.geteuid() != 0:
        return None
    from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    entry = ensure_user_exists(SYSTEM_USER_WHEN_ROOT) or pwd.getpwnam(SYSTEM_USER_WHEN_ROOT)
    ensure_prefix_permissions(data_dir)
    ensure_prefix_permissions(binaries)
    readable = stat.S_IRGRP | stat.S_IROTH
    ensure_folder_permissions(binaries, readable | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(binaries.parent / "lib", readable)
    if data_dir.stat().st_uid != entry.pw_uid:
        subprocess.run(["chown", "-R", f"{entry.pw_uid}:{entry.pw_gid}", str(data_dir)], check=True)
    return SYSTEM_USER_WHEN_ROOT
