"""Seeding from scheme files: a scheme the database lacks gets its file's version 1, published, once, even when
replicas start together; after that its file is not read."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from civicflow.rules.document import rule_hash
from orchestrator.errors import SchemeFileError
from orchestrator.schemes.seeding import SEED_SUBJECT, seed_schemes
from orchestrator.schemes.store import SchemeVersionStore
from tests.support.scheme_versions import fresh_scheme
from tests.support.seeded_schemes import seeded_document


def seed_file(directory: Path, name: str, **overrides: object) -> Path:
    path = directory / f"{name}.json"
    content = {
        "scheme_name": name,
        "version": 1,
        "effective_from": "2001-02-03",
        "document": seeded_document("scheme_alpha"),
    }
    path.write_text(json.dumps({**content, **overrides}))
    return path


def test_replicas_starting_together_seed_a_scheme_once(tmp_path: Path, scheme_engine: sa.Engine) -> None:
    name = fresh_scheme("it")
    seed_file(tmp_path, name)
    store = SchemeVersionStore(scheme_engine)

    with ThreadPoolExecutor(4) as pool:
        seeded = list(pool.map(lambda _: seed_schemes(store, tmp_path), range(4)))

    assert sorted(map(len, seeded)) == [0, 0, 0, 1]
    (version,) = store.versions(name)
    assert (version.version, version.status, version.effective_from) == (1, "published", date(2001, 2, 3))
    assert version.created_by == version.published_by == SEED_SUBJECT
    assert version.rule_hash == rule_hash(seeded_document("scheme_alpha"))


def test_the_file_of_a_scheme_that_exists_is_not_read(tmp_path: Path, scheme_engine: sa.Engine) -> None:
    name = fresh_scheme("it")
    seed_file(tmp_path, name)
    store = SchemeVersionStore(scheme_engine)
    assert seed_schemes(store, tmp_path) == [name]

    (tmp_path / f"{name}.json").write_text("not JSON at all")

    assert seed_schemes(store, tmp_path) == []
    assert len(store.versions(name)) == 1


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"version": 2}, "version"),
        ({"effective_from": "2001-02-30"}, "day is out of range"),
        ({"document": {"description": "no criteria"}}, "document"),
        ({"scheme_name": "another_name"}, "is not the file's name"),
    ],
)
def test_a_bad_seed_file_stops_the_start_naming_the_file(
    tmp_path: Path, scheme_engine: sa.Engine, overrides: dict[str, object], problem: str
) -> None:
    name = fresh_scheme("it")
    path = seed_file(tmp_path, name, **overrides)

    with pytest.raises(SchemeFileError, match=problem) as refused:
        seed_schemes(SchemeVersionStore(scheme_engine), tmp_path)

    assert str(path) in str(refused.value)
    assert SchemeVersionStore(scheme_engine).versions(name) == []
