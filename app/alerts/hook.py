"""The poller's hook: a feed's new articles against the "new" rules, in the articles'
own write transaction (the outbox rows commit with them, or not at all).

The compiled ``RuleIndex`` is cached and rebuilt when the rules change (a cheap
fingerprint query per call: count, newest id, latest update). Cost per feed write: that
query, one select of the new articles' matching fields (and their search documents,
only when some rule searches text), the in-memory match, one multi-row insert.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.alerts.match import ArticleFacts, RuleIndex
from app.store.alerts import BATCH_SECONDS, OutboxItem, OutboxStore
from app.store.search import fold, search_doc
from app.store.tables import AlertRule, Article, ArticleSource, SavedView

# A new article published longer ago than this sends no alert: subscribing to a feed
# brings in its back catalogue, which is not news.
RECENT = timedelta(days=2)
_WAKE = "newsmon_alert_wake"  # session.info: an "at once" delivery waits for this commit
# (session, feed id, new article ids, updated article ids, now), like the poller's hook.
Hook = Callable[[Session, int, list[int], list[int], datetime], object]


def batch_due(now: datetime, batch: str) -> datetime:
    """When a delivery of this batch setting is due: now, or the end of the current
    15-minute / hour window (windows aligned on the UTC clock, so one window's matches
    share a due time and go out as one message)."""
    step = BATCH_SECONDS.get(batch, 0)
    if not step:
        return now
    stamp = int(now.timestamp())
    return datetime.fromtimestamp((stamp // step + 1) * step, UTC)


@dataclass(slots=True)
class _Rule:
    id: int
    channel: str
    batch: str


class NewMatchHook:
    """Callable as the poller's ``on_new`` hook (or beside another one)."""

    def __init__(
        self, *, refresh_seconds: float = 2.0, on_commit: Callable[[], object] | None = None
    ) -> None:
        # Called after the transaction that enqueued deliveries due now commits (from the
        # writer's thread): the runner in this process wakes instead of waiting its turn.
        self.on_commit = on_commit
        self._fingerprint: tuple[Any, ...] | None = None
        self._checked = 0.0
        self._refresh = refresh_seconds
        self.index = RuleIndex(())
        self._rules: dict[int, _Rule] = {}
        self.matched = 0  # outbox rows enqueued by this hook (for benches and tests)

    def __call__(
        self,
        session: Session,
        feed_id: int,
        new_ids: list[int],
        updated_ids: list[int],
        now: datetime,
    ) -> None:
        if not new_ids:
            return
        self._load(session)
        if not len(self.index):
            return
        added = enqueue_matches(session, self.index, self._rules, feed_id, new_ids, now)
        self.matched += added
        if added and self.on_commit is not None and not session.info.get(_WAKE):
            session.info[_WAKE] = True
            if not event.contains(session, "after_commit", self._committed):
                event.listen(session, "after_commit", self._committed)

    def _committed(self, session: Session) -> None:
        """SQLAlchemy calls this for a savepoint's release too (the poller on SQLite writes
        each feed in a savepoint of a transaction held open for several feeds): the
        runner is woken only once the transaction itself has committed."""
        if session.in_nested_transaction() or not session.info.pop(_WAKE, False):
            return
        if self.on_commit is not None:
            self.on_commit()

    def _load(self, session: Session) -> None:
        mono = _time.monotonic()
        if self._fingerprint is not None and mono - self._checked < self._refresh:
            return
        self._checked = mono
        fingerprint = tuple(
            session.execute(
                select(
                    func.count(AlertRule.id),
                    func.max(AlertRule.id),
                    func.max(AlertRule.updated_at),
                    func.max(SavedView.updated_at),
                )
                .select_from(AlertRule)
                .join(SavedView, SavedView.id == AlertRule.view_id)
                .where(AlertRule.kind == "new", AlertRule.enabled.is_(True))
            ).one()
        )
        if fingerprint == self._fingerprint:
            return
        rows = session.execute(
            select(AlertRule.id, AlertRule.channel, AlertRule.batch, SavedView.query)
            .join(SavedView, SavedView.id == AlertRule.view_id)
            .where(AlertRule.kind == "new", AlertRule.enabled.is_(True))
        ).all()
        self._rules = {r.id: _Rule(r.id, r.channel, r.batch) for r in rows}
        self.index = RuleIndex.from_queries((r.id, r.query) for r in rows)
        self._fingerprint = fingerprint

    def invalidate(self) -> None:
        self._fingerprint = None


def load_facts(
    session: Session, article_ids: Sequence[int], *, feed_id: int | None, with_doc: bool
) -> list[ArticleFacts]:
    cols = [
        Article.id,
        Article.relevant,
        Article.theme_mask,
        Article.language,
        Article.published_at,
    ]
    stmt = select(*cols).where(Article.id.in_(article_ids))
    if with_doc:
        stmt = stmt.add_columns(search_doc.c.doc).outerjoin(
            search_doc, search_doc.c.id == Article.id
        )
    rows: list[Any] = list(session.execute(stmt).all())
    feeds: dict[int, set[int]] = {}
    for aid, fid in session.execute(
        select(ArticleSource.article_id, ArticleSource.feed_id).where(
            ArticleSource.article_id.in_(article_ids)
        )
    ):
        feeds.setdefault(aid, set()).add(fid)
    return [
        ArticleFacts(
            id=row[0],
            relevant=bool(row[1]),
            theme_mask=int(row[2] or 0),
            language=row[3],
            published_at=row[4],
            feed_ids=frozenset(feeds.get(row[0], set()) | ({feed_id} if feed_id else set())),
            # SQLite's document keeps the case (its trigram index folds); PostgreSQL's
            # is folded already: folding again changes nothing there.
            doc=fold(row[5] or "") if with_doc else "",
        )
        for row in rows
    ]


def enqueue_matches(
    session: Session,
    index: RuleIndex,
    rules: dict[int, Any],
    feed_id: int | None,
    article_ids: Sequence[int],
    now: datetime,
) -> int:
    """Enqueue a delivery per (matching rule, article); how many rows were new."""
    facts = load_facts(session, article_ids, feed_id=feed_id, with_doc=index.searches)
    items = []
    for a in facts:
        if a.published_at < now - RECENT:
            continue
        for rule_id in index.match(a, now):
            rule = rules[rule_id]
            items.append(
                OutboxItem(
                    channel=rule.channel,
                    subject_key=f"a:{a.id}",
                    kind="new",
                    rule_id=rule_id,
                    article_id=a.id,
                    due=batch_due(now, rule.batch),
                )
            )
    return OutboxStore(session).enqueue(items, now=now)


def combine(*hooks: Hook | None) -> Hook:
    """One hook calling each given one in turn (the full-text queue, then alerts)."""
    present = [h for h in hooks if h is not None]

    def run(
        session: Session, feed_id: int, new_ids: list[int], updated_ids: list[int], now: datetime
    ) -> None:
        for hook in present:
            hook(session, feed_id, new_ids, updated_ids, now)

    return run
