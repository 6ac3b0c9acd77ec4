"""Subscriptions for the CLI, the /feeds page and the API: one feed (``subscribe``),
OPML import and export in bulk, and enabling a disabled feed again.

The document is read whole before anything is written, so a hostile or broken one
(``InvalidInput``) adds nothing. Every feed then gets the checks a single subscription
gets, in this order: the URL's form and scheme (a refusal), already subscribed (reported
as such, before any DNS), then the address (``check_url``: an address the SSRF rules
refuse is a refusal; a host that does not resolve at this moment is only a warning, since
the poller retries and records it). Look-ups run in parallel, one transaction per feed.
One audit entry records the import. This does not fetch any feed; polling does.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from app.config import Settings
from app.core.errors import BlockedURL, Conflict, InvalidInput, NotFound
from app.feeds.guard import check_url, fetch_policy, validate_url
from app.feeds.opml import OpmlFeed, export_opml, read_opml
from app.store.feed_view import SAMPLE_URL, FeedView, feed_key

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.store.db import Database
    from app.store.feeds import FeedStore

# The stores (and SQLAlchemy) are imported where they are used: ``newsmon feeds import``
# of a plain SQLite file writes through the driver (``app.store.feeds_sqlite``) and
# never loads them.

MAX_OPML_BYTES = 1024 * 1024
CHECKS_AT_ONCE = 16  # concurrent DNS look-ups while checking an import's URLs
IMPORT_ACTION = "feed.import"  # the audit entry of an import, target type "feed"
AUDITED_IDS = 200  # feed ids kept in the audit entry; the counts are always complete


@dataclass(frozen=True, slots=True)
class Checked:
    url: str  # normalised
    warning: str | None = None  # the host did not resolve now: the poller will retry


def check_subscription(url: str, settings: Settings) -> Checked:
    """The address check after the form check: refused addresses raise ``BlockedURL``;
    a host that does not resolve right now is a warning, not a refusal."""
    try:
        return Checked(check_url(url, fetch_policy(settings)))
    except BlockedURL:
        raise
    except InvalidInput as exc:
        return Checked(url, f"{exc}; newsmon will try again when it polls")


class Subscriptions(Protocol):
    """What an OPML import reads and writes, each call its own transaction: the engine's
    stores (``StoreSubscriptions``), or ``app.store.feeds_sqlite.SqliteSubscriptions``
    for a SQLite file on the command line."""

    def subscribed(self, keys: Sequence[str]) -> set[str]: ...

    def add_many(
        self, feeds: Sequence[tuple[str, str | None]], *, now: datetime
    ) -> list[FeedView | None]: ...

    def record_import(
        self, detail: dict[str, Any], *, now: datetime, user_id: int | None
    ) -> None: ...


class StoreSubscriptions:
    """``Subscriptions`` through ``FeedStore`` and ``AuditStore`` on ``db``."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def subscribed(self, keys: Sequence[str]) -> set[str]:
        with self.db.read() as session:
            return _feed_store(session).subscribed(keys)

    def add_many(
        self, feeds: Sequence[tuple[str, str | None]], *, now: datetime
    ) -> list[FeedView | None]:
        with self.db.write() as session:
            return _feed_store(session).add_many(feeds, now=now)

    def record_import(self, detail: dict[str, Any], *, now: datetime, user_id: int | None) -> None:
        from app.store.audit import AuditStore

        with self.db.write() as session:
            AuditStore(session).record(
                IMPORT_ACTION, now=now, user_id=user_id, target_type="feed", detail=detail
            )


def _feed_store(session: Session) -> FeedStore:
    from app.store.feeds import FeedStore

    return FeedStore(session)


def subscribe(settings: Settings, db: Database, url: str, title: str | None = None) -> FeedView:
    """Add a feed after the checks of ``subscribe_checked``."""
    return subscribe_checked(settings, db, url, title)[0]


def subscribe_checked(
    settings: Settings, db: Database, url: str, title: str | None = None
) -> tuple[FeedView, str | None]:
    """Add a feed: form and scheme, then duplicates (``Conflict`` before any DNS), then
    the address; returns the feed and a warning when its host does not resolve yet."""
    normal = url if url == SAMPLE_URL else str(validate_url(url.strip()))
    with db.read() as session:
        _refuse_duplicate(_feed_store(session), normal)
    checked = Checked(normal) if normal == SAMPLE_URL else check_subscription(normal, settings)
    with db.write() as session:
        feed = _feed_store(session).add(checked.url, now=datetime.now(UTC), title=title)
    return feed, checked.warning


def _refuse_duplicate(store: FeedStore, url: str) -> None:
    try:
        store.find(url)
    except NotFound:
        return
    raise Conflict(f"feed already subscribed: {url}")


@dataclass(frozen=True, slots=True)
class Refusal:
    url: str
    reason: str


@dataclass(frozen=True, slots=True)
class ImportReport:
    added: tuple[FeedView, ...]
    skipped: tuple[str, ...]  # already subscribed
    rejected: tuple[Refusal, ...]
    warnings: tuple[Refusal, ...] = ()  # added, but the host does not resolve yet


def import_subscriptions(
    settings: Settings, db: Database, data: bytes, *, user_id: int | None = None
) -> ImportReport:
    """Subscribe to an OPML document's feeds; ``user_id`` None means the command line."""
    return import_into(settings, StoreSubscriptions(db), data, user_id=user_id)


def import_into(
    settings: Settings, store: Subscriptions, data: bytes, *, user_id: int | None = None
) -> ImportReport:
    """``import_subscriptions`` through any ``Subscriptions``."""
    document = read_opml(data)
    added: list[FeedView] = []
    skipped: list[str] = []
    warnings: list[Refusal] = []
    rejected = [Refusal(url, _refusal(url)) for url in document.rejected]
    valid: list[OpmlFeed] = []
    for feed in document.feeds:  # form and duplicates first: no DNS for either
        try:
            valid.append(replace(feed, url=str(validate_url(feed.url.strip()))))
        except BlockedURL as exc:
            rejected.append(Refusal(feed.url, str(exc)))
    keys = [feed_key(f.url) for f in valid]
    subscribed = store.subscribed(keys)  # one query for the lot, not one per feed
    fresh = [f for f, key in zip(valid, keys, strict=True) if key not in subscribed]
    skipped += [f.url for f, key in zip(valid, keys, strict=True) if key in subscribed]
    accepted: list[tuple[OpmlFeed, Checked]] = []
    for feed, checked in _check_all(settings, fresh):
        if isinstance(checked, InvalidInput):  # BlockedURL names the rule
            rejected.append(Refusal(feed.url, str(checked)))
        else:
            accepted.append((feed, checked))
    # One transaction: an import of hundreds of feeds is one commit, not hundreds. A URL
    # subscribed meanwhile, or twice in the document, is skipped.
    stored = store.add_many(
        [(checked.url, feed.title) for feed, checked in accepted], now=datetime.now(UTC)
    )
    for (feed, checked), view in zip(accepted, stored, strict=True):
        if view is None:
            skipped.append(feed.url)
            continue
        added.append(view)
        if checked.warning:
            warnings.append(Refusal(feed.url, checked.warning))
    report = ImportReport(tuple(added), tuple(skipped), tuple(rejected), tuple(warnings))
    detail = {
        "added": len(report.added),
        "skipped": len(report.skipped),
        "rejected": len(report.rejected),
        "feeds": [f.id for f in report.added[:AUDITED_IDS]],
    }
    store.record_import(detail, now=datetime.now(UTC), user_id=user_id)
    return report


def enable_feed(db: Database, feed: int | str, *, user_id: int | None = None) -> FeedView:
    """Poll a disabled (or failing) feed again now, by id or URL; audited in the same
    transaction with the reason it was disabled. ``user_id`` None means the command line."""
    from app.store.audit import AuditStore

    now = datetime.now(UTC)
    with db.write() as session:
        store = _feed_store(session)
        before = store.get(feed) if isinstance(feed, int) else store.find(feed)
        enabled = store.enable(before.id, now=now)
        AuditStore(session).record(
            "feed.enable",
            now=now,
            user_id=user_id,
            target_type="feed",
            target_id=enabled.id,
            detail={"url": enabled.url, "was": before.disabled_reason},
        )
    return enabled


def _check_all(
    settings: Settings, feeds: Sequence[OpmlFeed]
) -> list[tuple[OpmlFeed, Checked | InvalidInput]]:
    """``check_subscription`` for every feed, with DNS look-ups run CHECKS_AT_ONCE at a
    time: a reader's export of hundreds of feeds would otherwise wait for each in turn."""

    def check(feed: OpmlFeed) -> Checked | InvalidInput:
        try:
            return check_subscription(feed.url, settings)
        except InvalidInput as exc:
            return exc

    if not feeds:
        return []
    with ThreadPoolExecutor(max_workers=min(CHECKS_AT_ONCE, len(feeds))) as pool:
        return list(zip(feeds, pool.map(check, feeds), strict=True))


def export_subscriptions(db: Database) -> bytes:
    """Every subscription but the bundled sample, as OPML 2.0."""
    with db.read() as session:
        feeds = [f for f in _feed_store(session).all() if not f.is_sample]
    return export_opml(OpmlFeed(f.url, f.title, f.site_url) for f in feeds)


def _refusal(url: str) -> str:
    """Why the OPML reader refused a URL, in the guard's words where the guard has a rule."""
    try:
        validate_url(url)
    except BlockedURL as exc:
        return str(exc)
    return "not an absolute http(s) URL of at most 4 KB"
