"""Defect 12: run from another folder, ``newsmon`` used to create a new, empty database
(and a secret key) there without a word. Now only ``serve`` and ``db upgrade`` create
one; every other command refuses with exit code 2, naming the path it resolved."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_cli import NEWSMON


def run(cwd: Path, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    # the defaults, as after a fresh clone: sqlite:///data/newsmon.db relative to cwd
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    env.update(NEWSMON_DEFAULT_FEEDS="false", NEWSMON_LOG_LEVEL="WARNING", **extra)
    return subprocess.run(
        [NEWSMON, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize(
    "command",
    [
        ("users", "list"),
        ("feeds", "list"),
        ("feeds", "add", "https://news.example/feed.xml"),
        ("tokens", "list"),
        ("poll", "--once"),
        ("retag",),
    ],
)
def test_a_command_in_a_folder_without_a_database_refuses_and_says_where(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    answer = run(elsewhere, *command)

    assert answer.returncode == 2
    lines = answer.stderr.strip().splitlines()
    assert len(lines) == 1, answer.stderr
    assert f"no newsmon database at {elsewhere / 'data' / 'newsmon.db'}" in lines[0]
    assert "NEWSMON_DATABASE_URL" in lines[0] and "newsmon db upgrade" in lines[0]
    assert list(elsewhere.iterdir()) == []  # no database, no data/, no secret key


def test_db_upgrade_creates_it_and_then_every_command_finds_it(tmp_path: Path) -> None:
    created = run(tmp_path, "db", "upgrade")
    db_file = tmp_path / "data" / "newsmon.db"
    assert created.returncode == 0, created.stderr
    assert f"creating a new database at {db_file}" in created.stderr
    assert created.stdout.strip() == f"database {db_file} is at the latest revision"
    assert not (tmp_path / "data" / "secret_key").exists()  # only serving needs one

    listed = run(tmp_path, "feeds", "list")
    assert listed.returncode == 0 and "no feeds" in listed.stdout
    assert "creating" not in listed.stderr


def test_create_database_setting_lets_any_command_create_it(tmp_path: Path) -> None:
    answer = run(tmp_path, "users", "list", NEWSMON_CREATE_DATABASE="true")
    assert answer.returncode == 0, answer.stderr
    assert (tmp_path / "data" / "newsmon.db").exists()


def test_an_explicit_url_is_named_as_given(tmp_path: Path) -> None:
    target = tmp_path / "store" / "news.db"
    answer = run(tmp_path, "users", "list", NEWSMON_DATABASE_URL=f"sqlite:///{target}")
    assert answer.returncode == 2
    assert f"no newsmon database at {target};" in answer.stderr
    assert "relative" not in answer.stderr
    assert not target.parent.exists()
