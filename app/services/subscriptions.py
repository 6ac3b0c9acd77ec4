"""Subscriptions for the CLI, the /feeds page and the API: one feed (``subscribe``),
OPML import and export in bulk, and enabling a disabled feed again.

The document is read whole before anything is written, so a hostile or broken one
(``InvalidInput``) adds nothing. Every feed then gets the check a single subscription gets
(``check_url``: scheme and SSRF rules; look-ups run in parallel), one transaction per
feed: a refused URL is reported with the rule that refused it, not a failed import.
One audit entry records the import. This does not fetch any feed; polling does.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime

from app.config import Settings
from app.core.errors import BlockedURL, Conflict, InvalidInput
from app.feeds.guard import check_url, fetch_policy, validate_url
from app.feeds.opml import OpmlFeed, export_opml, read_opml
from app.store.audit import AuditStore
from app.store.db import Database
from app.store.feeds import SAMPLE_URL, FeedStore, FeedView

MAX_OPML_BYTES = 1024 * 1024
CHECKS_AT_ONCE = 16  # concurrent DNS look-ups while checking an import's URLs
AUDITED_IDS = 200  # feed ids kept in the audit entry; the counts are always complete


def subscribe(settings: Settings, db: Database, url: str, title: str | None = None) -> FeedView:
    """Add a feed after the scheme and SSRF checks (the same rule every poll applies)."""
    checked = url if url == SAMPLE_URL else check_url(url.strip(), fetch_policy(settings))
    with db.write() as session:
        return FeedStore(session).add(checked, now=datetime.now(UTC), title=title)


@dataclass(frozen=True, slots=True)
class Refusal:
    url: str
    reason: str


@dataclass(frozen=True, slots=True)
class ImportReport:
    added: tuple[FeedView, ...]
    skipped: tuple[str, ...]  # already subscribed
    rejected: tuple[Refusal, ...]


def import_subscriptions(
    settings: Settings, db: Database, data: bytes, *, user_id: int | None = None
) -> ImportReport:
    """Subscribe to an OPML document's feeds; ``user_id`` None means the command line."""
    document = read_opml(data)
    added: list[FeedView] = []
    skipped: list[str] = []
    rejected = [Refusal(url, _refusal(url)) for url in document.rejected]
    for feed, checked in _check_all(settings, document.feeds):
        if isinstance(checked, InvalidInput):  # BlockedURL names the rule; unresolvable hosts too
            rejected.append(Refusal(feed.url, str(checked)))
            continue
        try:
            with db.write() as session:
                added.append(
                    FeedStore(session).add(checked, now=datetime.now(UTC), title=feed.title)
                )
        except Conflict:
            skipped.append(feed.url)
    report = ImportReport(tuple(added), tuple(skipped), tuple(rejected))
    with db.write() as session:
        AuditStore(session).record(
            "feed.import",
            now=datetime.now(UTC),
            user_id=user_id,
            target_type="feed",
            detail={
                "added": len(report.added),
                "skipped": len(report.skipped),
                "rejected": len(report.rejected),
                "feeds": [f.id for f in report.added[:AUDITED_IDS]],
            },
        )
    return report


def enable_feed(db: Database, feed: int | str, *, user_id: int | None = None) -> FeedView:
    """Poll a disabled (or failing) feed again now, by id or URL; audited in the same
    transaction with the reason it was disabled. ``user_id`` None means the command line."""
    now = datetime.now(UTC)
    with db.write() as session:
        store = FeedStore(session)
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
) -> list[tuple[OpmlFeed, str | InvalidInput]]:
    """``check_url`` (the subscribe-time scheme and SSRF check) for every feed, with
    DNS look-ups run CHECKS_AT_ONCE at a time: a reader's export of hundreds of
    feeds would otherwise wait for each look-up in turn."""
    policy = fetch_policy(settings)

    def check(feed: OpmlFeed) -> str | InvalidInput:
        try:
            return check_url(feed.url.strip(), policy)
        except InvalidInput as exc:
            return exc

    if not feeds:
        return []
    with ThreadPoolExecutor(max_workers=min(CHECKS_AT_ONCE, len(feeds))) as pool:
        return list(zip(feeds, pool.map(check, feeds), strict=True))


def export_subscriptions(db: Database) -> bytes:
    """Every subscription but the bundled sample, as OPML 2.0."""
    with db.read() as session:
        feeds = [f for f in FeedStore(session).all() if not f.is_sample]
    return export_opml(OpmlFeed(f.url, f.title, f.site_url) for f in feeds)


def _refusal(url: str) -> str:
    """Why the OPML reader refused a URL, in the guard's words where the guard has a rule."""
    try:
        validate_url(url)
    except BlockedURL as exc:
        return str(exc)
    return "not an absolute http(s) URL of at most 4 KB"
