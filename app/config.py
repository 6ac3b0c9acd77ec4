"""Settings: environment variables with the ``NEWSMON_`` prefix, or a ``.env`` file.

No module-level instance: ``load_settings()`` builds one, ``create_app`` and the CLI
call it. Every field has a default and a help text (shown in the README table).

Read and checked here with the standard library (and python-dotenv for ``.env``), the
rules pydantic-settings applied before: names are case-insensitive, the environment
wins over ``.env``, lists are JSON, booleans are 1/0, true/false, yes/no, on/off; a
value of the wrong type or out of range is a ``SettingsError`` (a ``ValueError``)
that names the setting. pydantic-settings cost every ``newsmon`` command ~0.13 s of
start-up (importing pydantic), about a quarter of what `newsmon poll --once` spent before
its first request; the web app still uses pydantic for its API models.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import MISSING, Field, dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

__all__ = ["Settings", "SettingsError", "load_settings", "with_secret"]

ENV_PREFIX = "NEWSMON_"
ENV_FILE = ".env"


class SettingsError(ValueError):
    """A setting's value is of the wrong type or out of range."""


def setting(
    default: Any = MISSING,
    *,
    description: str,
    default_factory: Any = MISSING,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    pattern: str | None = None,
    secret: bool = False,
) -> Any:
    """A settings field: its default, its help text and the bounds its value must keep."""
    checks = {"description": description, "ge": ge, "gt": gt, "le": le, "pattern": pattern}
    return field(default=default, default_factory=default_factory, metadata=checks, repr=not secret)


@dataclass(init=False)
class Settings:
    """Every setting; ``Settings(**overrides)`` reads the environment and ``.env``, then
    applies ``overrides``, and checks each value."""

    database_url: str = setting(
        "sqlite:///data/newsmon.db",
        description="SQLAlchemy URL of the database (SQLite file or postgresql+psycopg://...).",
    )
    data_dir: Path = setting(
        Path("data"), description="Directory for the SQLite file, the secret key and backups."
    )
    host: str = setting("127.0.0.1", description="Address `newsmon serve` binds to.")
    port: int = setting(8000, ge=1, le=65535, description="Port `newsmon serve` listens on.")
    secret_key: str = setting(
        "",
        secret=True,
        description="Key for signing cursors and CSRF tokens; generated into data/secret_key "
        "on first run when unset.",
    )
    poll: bool = setting(True, description="Run the poller inside `newsmon serve`.")
    poll_interval_seconds: int = setting(
        60, ge=5, description="How often the in-process poller looks for due feeds."
    )
    allow_private_networks: bool = setting(
        False,
        description="Let feeds point at loopback/private addresses (intranet feeds, tests).",
    )
    fetch_allowlist: list[str] = setting(
        default_factory=list,
        description="CIDRs or host:port pairs allowed despite the private-network rule "
        '(JSON list, e.g. ["10.1.0.0/16", "127.0.0.1:8080"]).',
    )
    max_feed_bytes: int = setting(
        10 * 1024 * 1024, ge=1024, description="Cap on a feed's decoded size in bytes."
    )
    fetch_deadline_seconds: float = setting(
        30.0, gt=0, description="Overall deadline for one feed fetch, redirects included."
    )
    fetch_concurrency: int = setting(100, ge=1, description="Feeds fetched at once, in total.")
    fetch_per_host: int = setting(4, ge=1, description="Feeds fetched at once from one host.")
    parse_workers: int = setting(
        0, ge=0, description="Processes that parse feeds (0 = one per CPU core)."
    )
    poll_batch_size: int = setting(
        100,
        ge=1,
        # A poller holds at most two batches; their ids go in one IN list (claims, lease
        # renewals), which SQLite bounds at 32,766 values.
        le=10_000,
        description="Due feeds one poller claims at a time (PostgreSQL pollers share "
        "the work batch by batch).",
    )
    poll_lease_seconds: int = setting(
        60,
        ge=1,
        description="How long a claim on a feed lasts without renewal; a working poller renews "
        "its claims every third of this, so a poller that dies leaves its feeds to others "
        "within this time.",
    )
    poll_nice: int = setting(
        10,
        ge=0,
        le=19,
        description="CPU niceness added to the poller's parse workers (0 = as started): "
        "parsing and tagging are batch work, so pages and API calls served on the same "
        "machine go first. The poller's own process, which fetches and holds the "
        "database's write lock while it stores, keeps its priority: starved while holding "
        "that lock, it would make every editor's write wait.",
    )
    min_interval_minutes: int = setting(15, ge=1, description="Shortest interval between polls.")
    max_interval_minutes: int = setting(360, ge=1, description="Longest interval between polls.")
    default_feeds: bool = setting(
        True, description="Register the bundled default feeds and sample feed on first start."
    )
    public_read: bool = setting(
        True, description="Let anyone who can reach the server read the timeline and API."
    )
    web_workers: int = setting(
        1,
        ge=1,
        description="Web worker processes of `newsmon serve` (more than 1 needs PostgreSQL).",
    )
    web_threads: int = setting(
        4,
        ge=1,
        description="Threads per web worker that run requests' database work at once "
        "(routes that write have two more of their own); the other requests wait their "
        "turn.",
    )
    trusted_proxies: list[str] = setting(
        default_factory=list,
        description="Addresses or CIDRs of reverse proxies whose X-Forwarded-For and "
        'X-Forwarded-Proto are believed (JSON list, e.g. ["127.0.0.1"]); empty: none.',
    )
    fulltext_policy: Literal["auto", "always", "never"] = setting(
        "auto",
        description="Default full-text policy of a feed: fetch the article's page when the "
        "entry is short or the feed is a news search (auto), always, or never.",
    )
    fulltext_threshold: int = setting(
        600,
        ge=0,
        description="Under the auto policy, fetch the page of entries with less text "
        "than this many characters.",
    )
    max_page_bytes: int = setting(
        5 * 1024 * 1024, ge=1024, description="Cap on an article page's decoded size in bytes."
    )
    page_host_delay_seconds: float = setting(
        1.0,
        ge=0,
        description="Least time between two requests to one host for article pages "
        "(a longer robots.txt Crawl-delay wins, up to 60 s).",
    )
    page_per_host: int = setting(
        1, ge=1, description="Article pages fetched at once from one host."
    )
    extract_concurrency: int = setting(
        16, ge=1, description="Article pages fetched at once, in total."
    )
    extract_workers: int = setting(
        1,
        ge=0,
        description="Processes that extract article pages and re-tag them "
        "(0 = in the poller's process; tests only).",
    )
    contact_url: str = setting(
        "",
        description="URL or mailto: for site owners, sent in the User-Agent of every request "
        "(default: the project's page).",
    )
    log_level: str = setting("INFO", description="Logging level (DEBUG, INFO, WARNING, ...).")
    base_url: str = setting(
        "",
        description="Public address of this newsmon (e.g. https://news.example.org): entry ids "
        "and links in the outgoing feeds and the API are built from it, never from the "
        "request's Host header. Empty: http://HOST:PORT of `newsmon serve`.",
        pattern=r"^(https?://[^/?#\s]+(/[^?#\s]*)?)?$",
    )
    cors_origins: list[str] = setting(
        default_factory=list,
        description="Origins allowed to call the API from a browser (CORS), e.g. "
        '["https://tool.example.org"]; empty: CORS off.',
    )
    create_database: bool = setting(
        False,
        description="Let every `newsmon` command create a missing database (and its secret "
        "key); without it only `newsmon serve` and `newsmon db upgrade` create one, and other "
        "commands refuse, naming the path they looked at.",
    )
    sync_settle_seconds: float = setting(
        10.0,
        ge=0,
        description="The changes feed serves changes this many seconds old and older, so a "
        "write still committing is never skipped by a mirror that already read past it.",
    )

    smtp_host: str = setting(
        "", description="SMTP server for alert and digest e-mails (empty: e-mail is off)."
    )
    smtp_port: int = setting(25, ge=1, le=65535, description="SMTP server port (587, 465, 25).")
    smtp_starttls: bool = setting(False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_tls: bool = setting(
        False, description="Connect to the SMTP server over TLS from the start (port 465)."
    )
    smtp_user: str = setting("", description="SMTP user name (empty: no login).")
    smtp_password: str = setting("", description="SMTP password.", secret=True)
    smtp_from: str = setting(
        "newsmon@localhost", description="Sender address of alert and digest e-mails."
    )
    smtp_timeout_seconds: float = setting(
        30.0, gt=0, description="Timeout of one SMTP conversation step."
    )
    webhook_allowlist: list[str] = setting(
        default_factory=list,
        description="CIDRs or host:port pairs on private networks that alert webhooks may "
        'post to (JSON list, e.g. ["10.1.2.3:8080"]); public addresses need no entry.',
    )
    alerts_interval_seconds: float = setting(
        2.0, gt=0, description="How often the poller process sends due alert deliveries."
    )
    alert_retry_seconds: float = setting(
        30.0,
        gt=0,
        description="First wait before retrying a failed alert delivery; doubles each time, "
        "up to an hour.",
    )
    alert_max_failures: int = setting(
        8, ge=1, description="Failed deliveries in a row after which an alert is disabled."
    )

    def __init__(self, **overrides: Any) -> None:
        unknown = set(overrides) - set(_specs())
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        given = _environment()
        for name, spec in _specs().items():
            if name in overrides:
                value = _check(spec, overrides[name], None)
            elif name in given:
                value = _check(spec, given[name], ENV_PREFIX + name.upper())
            else:
                value = spec.default()
            setattr(self, name, value)

    def replace(self, **changes: Any) -> Settings:
        """A copy with ``changes`` applied (checked like overrides); the environment is
        not read again."""
        copy = object.__new__(Settings)
        copy.__dict__.update(self.__dict__)
        for name, value in changes.items():
            spec = _specs().get(name)
            if spec is None:
                raise TypeError(f"unknown setting: {name}")
            setattr(copy, name, _check(spec, value, None))
        return copy

    @property
    def public_base(self) -> str:
        """``base_url`` without a trailing slash, or the address `serve` listens on."""
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")


def load_settings(*, secret: bool = True, **overrides: object) -> Settings:
    """Read settings from the environment (and ``.env``), then apply ``overrides``.

    ``secret=False`` leaves an unset secret key empty instead of reading or generating
    ``data/secret_key``: the CLI does that only for the commands that serve pages, so a
    command run from the wrong folder leaves no new files behind."""
    settings = Settings(**overrides)
    return with_secret(settings) if secret else settings


def with_secret(settings: Settings) -> Settings:
    """``settings`` with the secret key filled from ``data/secret_key`` (made on first use)."""
    if not settings.secret_key:
        settings.secret_key = _stored_secret(settings.data_dir)
    return settings


def _stored_secret(data_dir: Path) -> str:
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(key, encoding="utf-8")
    return key


class _Spec:
    """How one setting is read: its type, default and bounds."""

    def __init__(self, spec: Field[Any], hint: Any) -> None:
        self.name = spec.name
        self.hint = hint
        self.factory = spec.default_factory
        self.value = spec.default
        meta = spec.metadata
        self.ge, self.gt, self.le = meta["ge"], meta["gt"], meta["le"]
        self.pattern = re.compile(meta["pattern"]) if meta["pattern"] else None

    def default(self) -> Any:
        return self.factory() if self.factory is not MISSING else self.value


@cache
def _specs() -> dict[str, _Spec]:
    hints = get_type_hints(Settings, {"Path": Path, "Literal": Literal})
    return {f.name: _Spec(f, hints[f.name]) for f in fields(Settings)}


def _environment() -> dict[str, str]:
    """``NEWSMON_*`` values by lower-case setting name: ``.env`` first, the environment
    over it."""
    found: dict[str, str] = {}
    if os.path.isfile(ENV_FILE):
        from dotenv import dotenv_values  # a few ms, and only with a .env file

        for key, value in dotenv_values(ENV_FILE, encoding="utf-8").items():
            if value is not None and key.upper().startswith(ENV_PREFIX):
                found[key[len(ENV_PREFIX) :].lower()] = value
    for key, value in os.environ.items():
        if key.upper().startswith(ENV_PREFIX):
            found[key[len(ENV_PREFIX) :].lower()] = value
    return found


_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


def _check(spec: _Spec, value: Any, env_name: str | None) -> Any:
    """``value`` (text from the environment, or a Python value) as the setting's type,
    within its bounds; ``SettingsError`` naming the setting otherwise."""
    where = f"setting {spec.name}" + (f" ({env_name})" if env_name else "")
    try:
        converted = _convert(spec.hint, value)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"{where}: {value!r} is not valid: {exc}") from None
    if spec.ge is not None and converted < spec.ge:
        raise SettingsError(f"{where}: {converted!r} is below the minimum {spec.ge}")
    if spec.gt is not None and converted <= spec.gt:
        raise SettingsError(f"{where}: {converted!r} must be greater than {spec.gt}")
    if spec.le is not None and converted > spec.le:
        raise SettingsError(f"{where}: {converted!r} is above the maximum {spec.le}")
    if spec.pattern is not None and not spec.pattern.fullmatch(converted):
        raise SettingsError(f"{where}: {converted!r} does not have the expected form")
    return converted


def _convert(hint: Any, value: Any) -> Any:
    text = value.strip() if isinstance(value, str) else None
    if hint is bool:
        if isinstance(value, bool):
            return value
        if text is not None and text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise ValueError("expected a boolean (true/false, 1/0, yes/no, on/off)")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if text is not None and re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        raise ValueError("expected an integer")
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValueError("expected a number")
        number = float(value if text is None else text)  # ValueError on other text
        if number != number or abs(number) == float("inf"):
            raise ValueError("expected a finite number")
        return number
    if hint is str:
        if isinstance(value, str):
            return value
        raise ValueError("expected text")
    if hint is Path:
        if isinstance(value, (str, os.PathLike)):
            return Path(value)
        raise ValueError("expected a path")
    if get_origin(hint) is Literal:
        choices = get_args(hint)
        if value in choices:
            return value
        raise ValueError("expected one of " + ", ".join(map(repr, choices)))
    if get_origin(hint) is list:
        try:
            items = json.loads(value) if isinstance(value, str) else value
        except json.JSONDecodeError:
            items = None
        if isinstance(items, list) and all(isinstance(i, str) for i in items):
            return list(items)
        raise ValueError('expected a JSON list of strings, e.g. ["a", "b"]')
    raise TypeError(f"no reader for {hint!r}")  # a new setting's type: add it above
