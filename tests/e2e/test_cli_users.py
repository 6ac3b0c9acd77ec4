"""``newsmon users``: role, disable, enable and reset-password as separate commands,
the last admin kept, and no traceback without a terminal."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_cli import NEWSMON, newsmon


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("NEWSMON_")}
    base.update(
        NEWSMON_DATABASE_URL=f"sqlite:///{tmp_path / 'newsmon.db'}",
        NEWSMON_DATA_DIR=str(tmp_path / "data"),
        NEWSMON_DEFAULT_FEEDS="false",
        NEWSMON_CREATE_DATABASE="true",  # each test starts from an empty folder
        NEWSMON_LOG_LEVEL="WARNING",
    )
    return base


def add(env: dict[str, str], name: str, role: str) -> None:
    done = subprocess.run(
        [NEWSMON, "users", "add", name, "--role", role, "--password-stdin"],
        env=env,
        input="a long enough password\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_users_commands_change_one_thing_each_and_keep_an_admin(env: dict[str, str]) -> None:
    add(env, "root", "admin")
    add(env, "vera", "viewer")
    promoted = newsmon(env, "users", "set-role", "vera", "editor")
    assert promoted.returncode == 0 and promoted.stdout.strip() == "vera: editor, active"
    for refused in (("set-role", "root", "viewer"), ("disable", "root")):
        answer = newsmon(env, "users", *refused)
        assert answer.returncode != 0 and "last active admin" in answer.stderr
        assert "Traceback" not in answer.stderr
    assert newsmon(env, "users", "disable", "vera").stdout.strip() == "vera: editor, disabled"
    assert newsmon(env, "users", "enable", "vera").stdout.strip() == "vera: editor, active"
    reset = subprocess.run(
        [NEWSMON, "users", "reset-password", "vera", "--password-stdin"],
        env=env,
        input="another long password\n",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert reset.returncode == 0 and "password reset" in reset.stdout
    missing = newsmon(env, "users", "disable", "nobody")
    assert missing.returncode != 0 and "nobody" in missing.stderr
    listed = newsmon(env, "users", "list").stdout
    assert "admin   active" in listed and "editor  active" in listed


def test_users_add_without_a_terminal_says_what_to_do(env: dict[str, str]) -> None:
    answer = subprocess.run(
        [NEWSMON, "users", "add", "ed"],
        env=env,
        input="",
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert answer.returncode != 0 and "--password-stdin" in answer.stderr
    assert "Traceback" not in answer.stderr
