"""Seeds schemes from the SCHEMES_DIR files: a scheme with no version in the database gets its file's version 1.

A file is `<scheme_name>.json`: {"scheme_name", "version": 1, "effective_from": "YYYY-MM-DD", "document"}.
Only files of schemes the database does not have are read: once a scheme exists, its versions
change through the API alone, and editing its file changes nothing.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from civicflow.rules.document import DocumentError, SchemeDocument, parse_document
from civicflow.rules.schema import NAME_PATTERN
from orchestrator.errors import SchemeFileError
from orchestrator.schemes.store import SchemeVersionStore

log = logging.getLogger(__name__)

SEED_SUBJECT = "civicflow-seed"


class SeedFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    scheme_name: str = Field(pattern=NAME_PATTERN)
    # Versions count from 1, and the seed is the first.
    version: int = Field(ge=1, le=1)
    effective_from: str = Field(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    document: dict[str, object]


def seed_schemes(store: SchemeVersionStore, directory: Path) -> list[str]:
    """Inserts, published, the seed of every scheme of `directory` the database lacks; answers the schemes seeded.

    SchemeFileError, naming the file, for a file that cannot be read or is not a valid seed.
    """
    existing = set(store.scheme_names())
    seeded = []
    for path in sorted(directory.glob("*.json")):
        if path.stem in existing:
            continue
        seed = _load(path)
        inserted = store.seed(
            path.stem,
            version=seed.version,
            document=seed.document.content,
            rule_hash=seed.document.rule_hash,
            effective_from=seed.effective_from,
            by=SEED_SUBJECT,
        )
        if inserted:  # else another replica seeded it a moment ago
            seeded.append(path.stem)
    if seeded:
        log.info("schemes seeded", extra={"schemes": seeded, "directory": str(directory)})
    return seeded


@dataclass(frozen=True)
class _Seed:
    version: int
    effective_from: date
    document: SchemeDocument


def _load(path: Path) -> _Seed:
    try:
        seed = SeedFile.model_validate(json.loads(path.read_text()))
        if seed.scheme_name != path.stem:
            raise ValueError(f"scheme_name '{seed.scheme_name}' is not the file's name '{path.stem}'")
        return _Seed(
            version=seed.version,
            effective_from=date.fromisoformat(seed.effective_from),
            document=parse_document(seed.document, field="document"),
        )
    except (OSError, ValueError, ValidationError, DocumentError) as error:
        raise SchemeFileError(f"{path}: cannot seed the scheme: {error}") from error
