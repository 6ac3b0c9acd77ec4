"""Settings: environment variables with the ``NEWSMON_`` prefix, or a ``.env`` file.

No module-level instance: ``load_settings()`` builds one, ``create_app`` and the CLI
call it. Every field has a default and a help text (shown in the README table).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEWSMON_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = Field(
        "sqlite:///data/newsmon.db",
        description="SQLAlchemy URL of the database (SQLite file or postgresql+psycopg://...).",
    )
    data_dir: Path = Field(
        Path("data"), description="Directory for the SQLite file, the secret key and backups."
    )
    host: str = Field("127.0.0.1", description="Address `newsmon serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `newsmon serve` listens on.")
    secret_key: str = Field(
        "",
        description="Key for signing cursors and CSRF tokens; generated into data/secret_key "
        "on first run when unset.",
    )
    poll: bool = Field(True, description="Run the poller inside `newsmon serve`.")
    poll_interval_seconds: int = Field(
        60, ge=5, description="How often the in-process poller looks for due feeds."
    )
    allow_private_networks: bool = Field(
        False,
        description="Let feeds point at loopback/private addresses (intranet feeds, tests).",
    )
    fetch_allowlist: list[str] = Field(
        default_factory=list,
        description="CIDRs or host:port pairs allowed despite the private-network rule "
        '(JSON list, e.g. ["10.1.0.0/16", "127.0.0.1:8080"]).',
    )
    max_feed_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Cap on a feed's decoded size in bytes."
    )
    fetch_deadline_seconds: float = Field(
        30.0, gt=0, description="Overall deadline for one feed fetch, redirects included."
    )
    fetch_concurrency: int = Field(100, ge=1, description="Feeds fetched at once, in total.")
    fetch_per_host: int = Field(4, ge=1, description="Feeds fetched at once from one host.")
    parse_workers: int = Field(
        0, ge=0, description="Processes that parse feeds (0 = one per CPU core)."
    )
    poll_batch_size: int = Field(
        100,
        ge=1,
        description="Due feeds one poller claims at a time (PostgreSQL pollers share "
        "the work batch by batch).",
    )
    poll_lease_seconds: int = Field(
        60,
        ge=1,
        description="How long a claim on a feed lasts without renewal; a working poller renews "
        "its claims every third of this, so a poller that dies leaves its feeds to others "
        "within this time.",
    )
    poll_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="CPU niceness added to the poller's parse workers (0 = as started): "
        "parsing and tagging are batch work, so pages and API calls served on the same "
        "machine go first. The poller's own process, which fetches and holds the "
        "database's write lock while it stores, keeps its priority: starved while holding "
        "that lock, it would make every editor's write wait.",
    )
    min_interval_minutes: int = Field(15, ge=1, description="Shortest interval between polls.")
    max_interval_minutes: int = Field(360, ge=1, description="Longest interval between polls.")
    default_feeds: bool = Field(
        True, description="Register the bundled default feeds and sample feed on first start."
    )
    public_read: bool = Field(
        True, description="Let anyone who can reach the server read the timeline and API."
    )
    web_workers: int = Field(
        1,
        ge=1,
        description="Web worker processes of `newsmon serve` (more than 1 needs PostgreSQL).",
    )
    web_threads: int = Field(
        4,
        ge=1,
        description="Threads per web worker that run requests' database work at once "
        "(routes that write have two more of their own); the other requests wait their "
        "turn.",
    )
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Addresses or CIDRs of reverse proxies whose X-Forwarded-For and "
        'X-Forwarded-Proto are believed (JSON list, e.g. ["127.0.0.1"]); empty: none.',
    )
    fulltext_policy: Literal["auto", "always", "never"] = Field(
        "auto",
        description="Default full-text policy of a feed: fetch the article's page when the "
        "entry is short or the feed is a news search (auto), always, or never.",
    )
    fulltext_threshold: int = Field(
        600,
        ge=0,
        description="Under the auto policy, fetch the page of entries with less text "
        "than this many characters.",
    )
    max_page_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, description="Cap on an article page's decoded size in bytes."
    )
    page_host_delay_seconds: float = Field(
        1.0,
        ge=0,
        description="Least time between two requests to one host for article pages "
        "(a longer robots.txt Crawl-delay wins, up to 60 s).",
    )
    page_per_host: int = Field(1, ge=1, description="Article pages fetched at once from one host.")
    extract_concurrency: int = Field(
        16, ge=1, description="Article pages fetched at once, in total."
    )
    extract_workers: int = Field(
        1,
        ge=0,
        description="Processes that extract article pages and re-tag them "
        "(0 = in the poller's process; tests only).",
    )
    contact_url: str = Field(
        "",
        description="URL or mailto: for site owners, sent in the User-Agent of every request "
        "(default: the project's page).",
    )
    log_level: str = Field("INFO", description="Logging level (DEBUG, INFO, WARNING, ...).")
    base_url: str = Field(
        "",
        description="Public address of this newsmon (e.g. https://news.example.org): entry ids "
        "and links in the outgoing feeds and the API are built from it, never from the "
        "request's Host header. Empty: http://HOST:PORT of `newsmon serve`.",
        pattern=r"^(https?://[^/?#\s]+(/[^?#\s]*)?)?$",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call the API from a browser (CORS), e.g. "
        '["https://tool.example.org"]; empty: CORS off.',
    )
    create_database: bool = Field(
        False,
        description="Let every `newsmon` command create a missing database (and its secret "
        "key); without it only `newsmon serve` and `newsmon db upgrade` create one, and other "
        "commands refuse, naming the path they looked at.",
    )
    sync_settle_seconds: float = Field(
        10.0,
        ge=0,
        description="The changes feed serves changes this many seconds old and older, so a "
        "write still committing is never skipped by a mirror that already read past it.",
    )

    smtp_host: str = Field(
        "", description="SMTP server for alert and digest e-mails (empty: e-mail is off)."
    )
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP server port (587, 465, 25).")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS.")
    smtp_tls: bool = Field(
        False, description="Connect to the SMTP server over TLS from the start (port 465)."
    )
    smtp_user: str = Field("", description="SMTP user name (empty: no login).")
    smtp_password: str = Field("", description="SMTP password.")
    smtp_from: str = Field(
        "newsmon@localhost", description="Sender address of alert and digest e-mails."
    )
    smtp_timeout_seconds: float = Field(
        30.0, gt=0, description="Timeout of one SMTP conversation step."
    )
    webhook_allowlist: list[str] = Field(
        default_factory=list,
        description="CIDRs or host:port pairs on private networks that alert webhooks may "
        'post to (JSON list, e.g. ["10.1.2.3:8080"]); public addresses need no entry.',
    )
    alerts_interval_seconds: float = Field(
        2.0, gt=0, description="How often the poller process sends due alert deliveries."
    )
    alert_retry_seconds: float = Field(
        30.0,
        gt=0,
        description="First wait before retrying a failed alert delivery; doubles each time, "
        "up to an hour.",
    )
    alert_max_failures: int = Field(
        8, ge=1, description="Failed deliveries in a row after which an alert is disabled."
    )

    @property
    def public_base(self) -> str:
        """``base_url`` without a trailing slash, or the address `serve` listens on."""
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")


def load_settings(*, secret: bool = True, **overrides: object) -> Settings:
    """Read settings from the environment (and ``.env``), then apply ``overrides``.

    ``secret=False`` leaves an unset secret key empty instead of reading or generating
    ``data/secret_key``: the CLI does that only for the commands that serve pages, so a
    command run from the wrong folder leaves no new files behind."""
    settings = Settings(**overrides)  # type: ignore[arg-type]
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
