"""Subscriptions in bulk: OPML import and export for the CLI, the /feeds page and the API.

The document is read whole before anything is written, so a hostile or broken one
(``InvalidInput``) adds nothing. Every feed then goes through ``wiring.subscribe``,
the path a single subscription takes (scheme and SSRF checks), one transaction per
feed: a refused URL is reported with the rule that refused it, not a failed import.
One audit entry records the import. This does not fetch any feed; polling does.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from app.config import Settings
from app.core.errors import BlockedURL, Conflict, InvalidInput
from app.feeds.guard import validate_url
from app.feeds.opml import OpmlFeed, export_opml, read_opml
from app.store.audit import AuditStore
from app.store.db import Database
from app.store.feeds import FeedStore, FeedView
from app.wiring import subscribe

MAX_OPML_BYTES = 1024 * 1024
AUDITED_IDS = 200  # feed ids kept in the audit entry; the counts are always complete


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
    for feed in document.feeds:
        try:
            added.append(subscribe(settings, db, feed.url, feed.title))
        except Conflict:
            skipped.append(feed.url)
        except InvalidInput as exc:  # BlockedURL names the rule; unresolvable hosts too
            rejected.append(Refusal(feed.url, str(exc)))
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
