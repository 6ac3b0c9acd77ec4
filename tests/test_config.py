"""Settings come from NEWSMON_* variables; the secret key is generated once and kept."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from app.config import load_settings


def test_a_secret_key_is_generated_on_first_run_and_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NEWSMON_SECRET_KEY", raising=False)
    first = load_settings(data_dir=tmp_path / "data")
    second = load_settings(data_dir=tmp_path / "data")
    key_file = tmp_path / "data" / "secret_key"
    assert len(first.secret_key) >= 32
    assert second.secret_key == first.secret_key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_environment_variables_override_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSMON_PORT", "8123")
    monkeypatch.setenv("NEWSMON_POLL", "false")
    monkeypatch.setenv("NEWSMON_FETCH_ALLOWLIST", '["127.0.0.1:9000"]')
    monkeypatch.setenv("NEWSMON_SECRET_KEY", "k" * 40)
    settings = load_settings()
    assert settings.port == 8123
    assert settings.poll is False
    assert settings.fetch_allowlist == ["127.0.0.1:9000"]
    assert settings.secret_key == "k" * 40


def test_the_defaults_are_safe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("NEWSMON_ALLOW_PRIVATE_NETWORKS", "NEWSMON_DATABASE_URL", "NEWSMON_HOST"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings(data_dir=tmp_path)
    assert settings.allow_private_networks is False
    assert settings.host == "127.0.0.1"
    assert settings.database_url == "sqlite:///data/newsmon.db"


def test_an_invalid_value_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSMON_PORT", "not-a-port")
    with pytest.raises(ValueError, match="port"):
        load_settings()


def test_the_poll_niceness_goes_to_the_parse_workers_of_both_passes(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """NEWSMON_POLL_NICE lowers the parse and extraction workers (tests/feeds checks a
    pool applies it), not the poller's process that holds the write lock."""
    from app.polling import make_extraction_runner, make_poller
    from app.store.db import Database

    monkeypatch.setenv("NEWSMON_POLL_NICE", "7")
    settings = load_settings(data_dir=tmp_path)
    db = Database.from_url(f"sqlite:///{tmp_path / 'n.db'}")
    try:
        assert make_poller(settings, db).parse_nice == 7
        assert make_extraction_runner(settings, db).config.nice == 7
    finally:
        db.dispose()
