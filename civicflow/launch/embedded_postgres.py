"""A real PostgreSQL server run from the pgserver wheel, for machines where none is configured."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any


def start_embedded_postgres(data_dir: Path) -> Any:
    """Starts (or joins) the server whose data lives in `data_dir`; returns the pgserver handle.

    The data directory survives restarts. pgserver stops the server when the last
    process that started it exits.
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (CI, containers) and falls back to /tmp.
        warnings.simplefilter("ignore")
        from pgserver import get_server  # type: ignore[attr-defined]  # re-exported without __all__

        data_dir.mkdir(parents=True, exist_ok=True)
        return get_server(data_dir, cleanup_mode="stop")


def embedded_database_url(server: Any, database: str = "postgres") -> str:
    """A SQLAlchemy URL for the psycopg2 driver, reaching the server over its Unix socket."""
    return str(server.get_uri(database))
