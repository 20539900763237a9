"""The auditor's offline verifier, `python -m audit_service.verify`, run on documents saved as an auditor saves them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from civicflow.settings import REPO_ROOT


def save(directory: Path, name: str, document: dict[str, Any]) -> Path:
    path = directory / name
    path.write_text(json.dumps(document, indent=2))
    return path


def run_verifier(*arguments: str | Path) -> subprocess.CompletedProcess[str]:
    """The auditor's command, as a separate process: it has no way to reach the services."""
    return subprocess.run(
        [sys.executable, "-m", "audit_service.verify", *map(str, arguments)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
