"""Settings come from NEWSMON_* variables; the secret key is generated once and kept."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from app.config import SettingsError, load_settings


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


def test_a_dotenv_file_is_read_and_the_environment_wins_over_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / ".env").write_text(
        "# comment\nNEWSMON_PORT=8124\nexport NEWSMON_HOST='0.0.0.0'\n"
        'NEWSMON_LOG_LEVEL="DEBUG"\nOTHER_APP_PORT=1\n',
        encoding="utf-8",
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NEWSMON_PORT", raising=False)
    monkeypatch.setenv("NEWSMON_LOG_LEVEL", "WARNING")
    settings = load_settings(secret=False)
    assert settings.port == 8124
    assert settings.host == "0.0.0.0"
    assert settings.log_level == "WARNING"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("1", True), ("Yes", True), ("on", True), ("false", False), ("0", False)],
)
def test_boolean_spellings(monkeypatch: pytest.MonkeyPatch, text: str, expected: bool) -> None:
    monkeypatch.setenv("NEWSMON_POLL", text)
    assert load_settings(secret=False).poll is expected


def test_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSMON_PORT", raising=False)
    monkeypatch.setenv("newsmon_port", "8125")
    assert load_settings(secret=False).port == 8125


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("NEWSMON_PORT", "70000", "maximum"),
        ("NEWSMON_PORT", "80.5", "integer"),
        ("NEWSMON_POLL_BATCH_SIZE", "20000", "maximum"),
        ("NEWSMON_POLL", "maybe", "boolean"),
        ("NEWSMON_FETCH_ALLOWLIST", "10.0.0.0/8", "JSON list"),
        ("NEWSMON_FETCH_ALLOWLIST", "[1, 2]", "JSON list"),
        ("NEWSMON_FULLTEXT_POLICY", "sometimes", "'auto'"),
        ("NEWSMON_FETCH_DEADLINE_SECONDS", "0", "greater than"),
        ("NEWSMON_FETCH_DEADLINE_SECONDS", "nan", "finite"),
        ("NEWSMON_BASE_URL", "javascript:alert(1)", "form"),
    ],
)
def test_each_bad_value_names_its_setting(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, words: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings(secret=False)
    assert name in str(caught.value)
    assert words in str(caught.value)


def test_the_cli_reports_a_bad_setting_without_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from app.cli import main

    monkeypatch.setenv("NEWSMON_PARSE_WORKERS", "-1")
    assert main(["feeds", "list"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: setting parse_workers (NEWSMON_PARSE_WORKERS)")
    assert "Traceback" not in err


def test_overrides_are_checked_and_unknown_names_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="poll_batch_size"):
        load_settings(secret=False, poll_batch_size=0)
    with pytest.raises(TypeError, match="pol_interval"):
        load_settings(secret=False, pol_interval=5)
    assert load_settings(secret=False, data_dir=str(tmp_path)).data_dir == tmp_path


def test_replace_checks_and_leaves_the_original_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSMON_POLL", raising=False)
    settings = load_settings(secret=False)
    copy = settings.replace(poll=False, fetch_allowlist=["10.0.0.0/8"])
    assert (settings.poll, settings.fetch_allowlist) == (True, [])
    assert (copy.poll, copy.fetch_allowlist) == (False, ["10.0.0.0/8"])
    with pytest.raises(SettingsError, match="port"):
        settings.replace(port=0)


def test_secrets_stay_out_of_the_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NEWSMON_SECRET_KEY", "s3cr3t-key-" * 4)
    monkeypatch.setenv("NEWSMON_SMTP_PASSWORD", "hunter2-password")
    shown = repr(load_settings(secret=False))
    assert "s3cr3t" not in shown
    assert "hunter2" not in shown
    assert "smtp_host" in shown


def test_numbers_given_in_code_are_checked_too() -> None:
    with pytest.raises(SettingsError, match="finite"):
        load_settings(secret=False, fetch_deadline_seconds=float("inf"))
    with pytest.raises(SettingsError, match="number"):
        load_settings(secret=False, fetch_deadline_seconds=True)
    assert load_settings(secret=False, fetch_deadline_seconds=3).fetch_deadline_seconds == 3.0
