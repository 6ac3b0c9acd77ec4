"""The only ORM classes of newsmon. Schema changes go through Alembic (``migrations/``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy import (
    text as sql_text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.store.feed_view import NEW_FEED_INTERVAL

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both engines (SQLite stores naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {  # noqa: RUF012 - SQLAlchemy reads it as a class attribute
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class Feed(Base):
    __tablename__ = "feed"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    url_hash: Mapped[str] = mapped_column(String(64), unique=True)
    title: Mapped[str | None] = mapped_column(Text)
    site_url: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    next_poll_at: Mapped[datetime] = mapped_column(index=True)
    interval_seconds: Mapped[int] = mapped_column(Integer, default=NEW_FEED_INTERVAL)
    ttl_seconds: Mapped[int | None] = mapped_column(Integer)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_polled_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_status: Mapped[str | None] = mapped_column(String(32))
    last_http_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    body_hash: Mapped[str | None] = mapped_column(String(64))  # last body parsed cleanly
    parse_warning: Mapped[str | None] = mapped_column(Text)  # why feedparser flagged it
    # A permanent redirect seen on consecutive polls; the URL moves after a few repeats.
    redirect_url: Mapped[str | None] = mapped_column(Text)
    redirect_count: Mapped[int] = mapped_column(Integer, default=0)
    # Claim lease so several pollers (PostgreSQL) never poll one feed at once.
    lease_until: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    # Full text from the article pages: auto | always | never; None = the setting's default.
    fulltext_policy: Mapped[str | None] = mapped_column(String(8))


class Article(Base):
    __tablename__ = "article"
    __table_args__ = (
        Index("ix_article_relevant_published", "relevant", "published_at", "id"),
        Index("ix_article_published", "published_at", "id"),
        Index("ix_article_updated", "updated_at", "id"),
        # Covers the timeline's filters and the volume chart without row look-ups; on
        # PostgreSQL with the id, which a searched chart looks up, and the outlet, by
        # which share of voice splits (0013).
        Index(
            "ix_article_timeline_cover",
            "relevant",
            "published_at",
            "theme_mask",
            "language",
            postgresql_include=["id", "primary_feed_id"],
        ),
        # The volume chart counts one (theme mask, day) range at a time (migration 0003),
        # on SQLite split by outlet from the index alone too (0009).
        Index(
            "ix_article_volume",
            "theme_mask",
            "relevant",
            "published_at",
            "language",
            "primary_feed_id",
        ),
        # Story-cluster candidates: the newest rows per band value in a window (0004).
        Index("ix_article_band0_published", "band0", "published_at"),
        Index("ix_article_band1_published", "band1", "published_at"),
        Index("ix_article_band2_published", "band2", "published_at"),
        Index("ix_article_band3_published", "band3", "published_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    # sha256 of the identity key (canonical URL, else feed+GUID, else content).
    url_hash: Mapped[str] = mapped_column(String(64), unique=True)
    key_kind: Mapped[str] = mapped_column(String(8), default="url")
    guid: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text, default="")  # sanitised HTML
    content: Mapped[str] = mapped_column(Text, default="")  # sanitised HTML
    text: Mapped[str] = mapped_column(Text, default="")  # plain text for tagging and search
    language: Mapped[str | None] = mapped_column(String(16), index=True)
    # The outlet listed first on the card: the feed of the first article_source row by
    # (first_seen_at, feed_id). Kept by triggers on article_source (migration 0009).
    primary_feed_id: Mapped[int | None] = mapped_column(Integer)
    published_at: Mapped[datetime]
    published_estimated: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Tagger output, and the effective values after editor overrides.
    relevance_score: Mapped[float] = mapped_column(Float, default=0.0)
    relevance_reason: Mapped[str] = mapped_column(Text, default="")
    relevance_evidence: Mapped[list[Any]] = mapped_column(default=list)
    tagger_relevant: Mapped[bool] = mapped_column(Boolean, default=False)
    relevant_override: Mapped[bool | None] = mapped_column(Boolean)
    relevant_override_by: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="SET NULL")
    )
    relevant_override_at: Mapped[datetime | None]
    relevant: Mapped[bool] = mapped_column(Boolean, default=False)
    theme_mask: Mapped[int] = mapped_column(Integer, default=0)  # effective themes as bits
    theme_scores: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tag_version: Mapped[str | None] = mapped_column(String(64))
    # Story fingerprint: four MinHash values over the article's content words. Articles
    # sharing one are candidates for the same story cluster (confirmed by Jaccard).
    band0: Mapped[int | None] = mapped_column(Integer)
    band1: Mapped[int | None] = mapped_column(Integer)
    band2: Mapped[int | None] = mapped_column(Integer)
    band3: Mapped[int | None] = mapped_column(Integer)
    cluster_id: Mapped[int | None] = mapped_column(Integer, index=True)
    # Full text: the page's sanitised HTML, kept apart from the feed's summary/content;
    # ``text`` then holds the page's plain text (tagging, search) and text_source "page".
    # Deferred: timelines load article rows and must not drag page texts along.
    page_content: Mapped[str] = mapped_column(Text, default="", server_default="", deferred=True)
    text_source: Mapped[str] = mapped_column(String(8), default="feed", server_default="feed")
    # sha256 of the canonical URL the page declared (dedup of one article under two URLs).
    canonical_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    # The publisher named by a news-search feed's <source> (shown instead of the feed).
    outlet: Mapped[str | None] = mapped_column(Text)


class Extraction(Base):
    """The full-text queue and its record: one row per article whose page is wanted.

    ``pending`` rows are claimed with a lease (SKIP LOCKED on PostgreSQL); ``done``
    rows keep the outcome shown to readers (``core.pages.PageOutcome``).
    """

    __tablename__ = "extraction"
    __table_args__ = (Index("ix_extraction_due", "state", "due_at"),)

    article_id: Mapped[int] = mapped_column(
        ForeignKey("article.id", ondelete="CASCADE"), primary_key=True
    )
    url: Mapped[str | None] = mapped_column(Text)  # the page to fetch (None: unresolvable)
    host: Mapped[str | None] = mapped_column(String(255))  # claims spread over hosts
    state: Mapped[str] = mapped_column(String(8))  # pending | done
    outcome: Mapped[str | None] = mapped_column(String(16))  # of the last attempt
    detail: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime]
    due_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    fetched_at: Mapped[datetime | None]
    final_url: Mapped[str | None] = mapped_column(Text)
    site_name: Mapped[str | None] = mapped_column(Text)


class ArticleTombstone(Base):
    """An article that was deleted, so that a mirror syncing changes drops it too."""

    __tablename__ = "article_tombstone"
    __table_args__ = (Index("ix_article_tombstone_deleted", "deleted_at", "article_id"),)

    article_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    deleted_at: Mapped[datetime]


class ArticleSource(Base):
    __tablename__ = "article_source"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("article.id", ondelete="CASCADE"), primary_key=True
    )
    feed_id: Mapped[int] = mapped_column(
        ForeignKey("feed.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    first_seen_at: Mapped[datetime]


class ArticleTheme(Base):
    """An effective theme of an article: from the tagger, or added by an editor."""

    __tablename__ = "article_theme"
    __table_args__ = (Index("ix_article_theme_theme", "theme", "article_id"),)

    article_id: Mapped[int] = mapped_column(
        ForeignKey("article.id", ondelete="CASCADE"), primary_key=True
    )
    theme: Mapped[str] = mapped_column(String(32), primary_key=True)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    evidence: Mapped[list[Any]] = mapped_column(default=list)
    origin: Mapped[str] = mapped_column(String(16), default="tagger")
    tag_version: Mapped[str | None] = mapped_column(String(64))


class ThemeOverride(Base):
    """An editor's decision on one theme of one article; it survives re-tagging."""

    __tablename__ = "theme_override"

    article_id: Mapped[int] = mapped_column(
        ForeignKey("article.id", ondelete="CASCADE"), primary_key=True
    )
    theme: Mapped[str] = mapped_column(String(32), primary_key=True)
    present: Mapped[bool] = mapped_column(Boolean)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]


class User(Base):
    __tablename__ = "user"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(Text)
    role: Mapped[str] = mapped_column(String(16))  # viewer | editor | admin
    created_at: Mapped[datetime]
    password_changed_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]


class UserSession(Base):
    """Server-side session; the cookie holds the secret, the table only its SHA-256."""

    __tablename__ = "session"

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]
    expires_at: Mapped[datetime]


class ApiToken(Base):
    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(16))  # read | write
    created_at: Mapped[datetime]
    last_used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class Flag(Base):
    __tablename__ = "flag"
    __table_args__ = (Index("ix_flag_open", "resolved_at", "article_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("article.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(32))  # important|irrelevant|wrong-theme|follow-up
    note: Mapped[str] = mapped_column(Text, default="")
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32), default="")
    target_id: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class FetchLog(Base):
    __tablename__ = "fetch_log"
    __table_args__ = (Index("ix_fetch_log_feed_started", "feed_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    feed_id: Mapped[int] = mapped_column(ForeignKey("feed.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(index=True)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    outcome: Mapped[str] = mapped_column(String(32))
    http_status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    new_count: Mapped[int] = mapped_column(Integer, default=0)
    updated_count: Mapped[int] = mapped_column(Integer, default=0)
    skipped_count: Mapped[int] = mapped_column(Integer, default=0)


class RateLimitHit(Base):
    """One failed attempt (a wrong password, a bad token) counted against a key, in the
    database so that every web worker on every host sees the same count."""

    __tablename__ = "rate_limit_hit"
    __table_args__ = (Index("ix_rate_limit_hit_bucket_key_at", "bucket", "key_hash", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bucket: Mapped[str] = mapped_column(String(32))  # login-account | login-address | token
    key_hash: Mapped[str] = mapped_column(String(64))  # sha256 of the account or address
    at: Mapped[datetime]


class UserPref(Base):
    """A user's reading state and preferences: visits (for "new since your last
    visit") and the time zone every page uses."""

    __tablename__ = "user_pref"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    time_zone: Mapped[str | None] = mapped_column(String(64))
    visited_at: Mapped[datetime | None]
    previous_visit_at: Mapped[datetime | None]


class ArticleRead(Base):
    """An article a user has read (or marked as read)."""

    __tablename__ = "article_read"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    article_id: Mapped[int] = mapped_column(
        ForeignKey("article.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    read_at: Mapped[datetime]


class SavedView(Base):
    """A named timeline filter (its query string), personal (owner) or the team's
    (owner null). The base of alert rules later."""

    __tablename__ = "saved_view"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    query: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AlertRule(Base):
    """An alert on a saved view (issue 17): ``new`` matches or a ``spike`` of its volume,
    sent by e-mail or webhook. Owner null: a team rule (editors manage it)."""

    __tablename__ = "alert_rule"

    id: Mapped[int] = mapped_column(primary_key=True)
    view_id: Mapped[int] = mapped_column(
        ForeignKey("saved_view.id", ondelete="CASCADE"), index=True
    )
    owner_id: Mapped[int | None] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(8))  # new | spike
    batch: Mapped[str] = mapped_column(String(8), default="now")  # now | 15m | 1h
    spike_hours: Mapped[int] = mapped_column(Integer, default=6)
    spike_factor: Mapped[float] = mapped_column(Float, default=3.0)
    spike_min_count: Mapped[int] = mapped_column(Integer, default=5)
    spike_since: Mapped[datetime | None]  # start of the spike in progress (fired once)
    quiet_start: Mapped[str | None] = mapped_column(String(5))  # "22:00", local time
    quiet_end: Mapped[str | None] = mapped_column(String(5))  # "07:00"
    time_zone: Mapped[str | None] = mapped_column(String(64))  # None: the owner's, else UTC
    daily_cap: Mapped[int | None] = mapped_column(Integer)  # deliveries per local day
    channel: Mapped[str] = mapped_column(String(8))  # email | webhook
    target: Mapped[str] = mapped_column(Text)  # e-mail address or webhook URL
    secret_sealed: Mapped[str | None] = mapped_column(Text)  # webhook secret, sealed
    language: Mapped[str | None] = mapped_column(String(8))  # en | de (e-mail)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_failure_at: Mapped[datetime | None]
    last_sent_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class DigestSetting(Base):
    """A user's digest e-mail: daily or weekly at a local time (issue 17)."""

    __tablename__ = "digest_setting"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user.id", ondelete="CASCADE"), primary_key=True
    )
    frequency: Mapped[str] = mapped_column(String(8), default="daily")  # daily | weekly
    local_time: Mapped[str] = mapped_column(String(5), default="08:00")  # HH:MM
    weekday: Mapped[int] = mapped_column(Integer, default=0)  # 0 Monday (weekly only)
    time_zone: Mapped[str | None] = mapped_column(String(64))  # None: user_pref's, else UTC
    email: Mapped[str] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(8))  # en | de
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    last_period: Mapped[str | None] = mapped_column(String(32))  # the last period sent
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Outbox(Base):
    """One delivery to make, at most once: the unique key (rule, channel, subject) is the
    guarantee, not a Python check; pollers and web workers insert with ON CONFLICT DO
    NOTHING. ``subject_key``: ``a:<article id>``, ``s:<spike start>``, ``t:<nonce>`` (a test).
    Digests have no rule: their key is (user, channel, ``d:<period>``), a partial index.
    ``message_id`` (the e-mail's Message-ID, the webhook's Idempotency-Key) is written
    and committed before sending; status ``sending`` then marks the send under way."""

    __tablename__ = "outbox"
    __table_args__ = (
        UniqueConstraint("rule_id", "channel", "subject_key", name="uq_outbox_rule_subject"),
        Index(
            "uq_outbox_digest_subject",
            "user_id",
            "channel",
            "subject_key",
            unique=True,
            sqlite_where=sql_text("rule_id IS NULL"),
            postgresql_where=sql_text("rule_id IS NULL"),
        ),
        Index("ix_outbox_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[int | None] = mapped_column(
        ForeignKey("alert_rule.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("user.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))  # email | webhook
    subject_key: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))  # new | spike | digest | test
    article_id: Mapped[int | None] = mapped_column(
        ForeignKey("article.id", ondelete="CASCADE"), index=True
    )
    payload: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # pending | sending | sent | failed (gave up) | unknown (killed mid-send, not repeated)
    status: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    message_id: Mapped[str | None] = mapped_column(String(255))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
