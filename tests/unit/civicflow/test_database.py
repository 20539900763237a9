"""A service's database login: the URL of its role, with the password read from a mounted file when one is named."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from civicflow.database import DatabasePasswordError, DatabaseSettings

URL = "postgresql://civicflow_orchestrator@postgres:5432/civicflow"


def test_without_a_password_file_the_url_is_used_as_it_is() -> None:
    settings = DatabaseSettings(database_url="postgresql://role:in-the-url@db/civicflow")
    assert settings.database_login_url() == "postgresql://role:in-the-url@db/civicflow"


@pytest.mark.parametrize("written", ["s3cret", "s3cret\n", "s3cret\r\n"])
def test_the_password_file_gives_the_password_without_its_line_end(tmp_path: Path, written: str) -> None:
    (tmp_path / "password").write_text(written)
    login = make_url(
        DatabaseSettings(database_url=URL, database_password_file=tmp_path / "password").database_login_url()
    )
    assert (login.username, login.password, login.host, login.port, login.database) == (
        "civicflow_orchestrator",
        "s3cret",
        "postgres",
        5432,
        "civicflow",
    )


def test_a_password_that_is_not_url_safe_survives_the_url(tmp_path: Path) -> None:
    password = "p@ss:w/rd?#%"
    (tmp_path / "password").write_text(password)
    url = DatabaseSettings(database_url=URL, database_password_file=tmp_path / "password").database_login_url()
    assert make_url(url).password == password


def test_the_file_replaces_a_password_in_the_url(tmp_path: Path) -> None:
    (tmp_path / "password").write_text("from-the-file")
    settings = DatabaseSettings(
        database_url="postgresql://role:stale@db/civicflow", database_password_file=tmp_path / "password"
    )
    assert make_url(settings.database_login_url()).password == "from-the-file"


@pytest.mark.parametrize(("content", "problem"), [(None, "No such file or directory"), ("", "is empty")])
def test_a_missing_or_empty_password_file_is_refused_naming_the_setting_and_the_file(
    tmp_path: Path, content: str | None, problem: str
) -> None:
    path = tmp_path / "password"
    if content is not None:
        path.write_text(content)
    settings = DatabaseSettings(database_url=URL, database_password_file=path)

    with pytest.raises(DatabasePasswordError) as refused:
        settings.database_login_url()

    assert str(refused.value).startswith(f"DATABASE_PASSWORD_FILE {path}")
    assert problem in str(refused.value)
