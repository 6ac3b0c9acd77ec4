"""``updated_at`` moves with every change the API shows, and the changes feed reports
changes, hidden and deleted articles in ``(time, id)`` order (both engines)."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from app.core.decide import ArticleDraft
from app.core.timeline import Cursor, TimelineFilter
from app.store.articles import ArticleStore
from app.store.changes import changes
from app.store.db import Database
from app.store.feeds import FeedStore
from app.store.flags import FlagStore
from app.store.overrides import OverrideChange, OverrideStore
from app.store.tables import Article
from app.store.users import UserStore
from tests.web.test_auth_kit import NOW, make_user, tags

LATER = NOW + timedelta(days=1)
FAR = NOW + timedelta(days=365 * 50)  # feed removal stamps tombstones with the real clock


def draft(title: str) -> ArticleDraft:
    url = f"https://news.example/{hashlib.sha1(title.encode()).hexdigest()[:12]}"
    return ArticleDraft(
        key=hashlib.sha256(url.encode()).hexdigest(),
        key_kind="url",
        url=url,
        guid=None,
        title=title,
        author="A. Writer",
        summary="<p>Summary</p>",
        content="<p>Summary</p>",
        text=title,
        language="en",
        published_at=NOW,
        published_estimated=False,
        bands=(),
        tags=tags("market"),
    )


def ingest(db: Database, feed_url: str, titles: list[str], now: datetime) -> list[int]:
    with db.write() as session:
        feeds = FeedStore(session)
        feed_id = next((f.id for f in feeds.all() if f.url == feed_url), None)
        if feed_id is None:
            feed_id = feeds.add(feed_url, now=NOW).id
        result = ArticleStore(session).upsert_batch(feed_id, [draft(t) for t in titles], now=now)
        return result.new_ids + result.updated_ids


def updated_at(db: Database, article_id: int) -> datetime:
    with db.read() as session:
        row = session.get(Article, article_id)
        assert row is not None
        return row.updated_at


def test_every_visible_change_moves_updated_at(db: Database) -> None:
    editor = make_user(db, "ed", "editor")
    (article,) = ingest(db, "https://a.example/feed", ["Deal signed"], NOW)
    steps = iter(LATER + timedelta(minutes=m) for m in range(100))

    ingest(db, "https://a.example/feed", ["Deal signed"], next(steps))  # same feed again
    assert updated_at(db, article) == NOW, "an unchanged re-poll is no change"

    def changed(now: datetime) -> None:
        assert updated_at(db, article) == now

    when = next(steps)
    ingest(db, "https://b.example/feed", ["Deal signed"], when)  # a new source
    changed(when)
    with db.write() as session:
        when = next(steps)
        ArticleStore(session).apply_tags({article: tags("security")}, now=when)  # re-tag
    changed(when)
    with db.write() as session:
        when = next(steps)
        flag = FlagStore(session).create(article, "irrelevant", "", user_id=editor, now=when)
    changed(when)
    for action in ("annotate", "resolve", "reopen", "assign", "delete"):
        when = next(steps)
        with db.write() as session:
            flags = FlagStore(session)
            if action == "annotate":
                flags.annotate(flag.id, "a note", now=when)
            elif action == "resolve":
                flags.resolve(flag.id, user_id=editor, now=when)
            elif action == "reopen":
                flags.reopen(flag.id, now=when)
            elif action == "assign":
                flags.assign(flag.id, "ed", now=when)
            else:
                user = UserStore(session).get(editor)
                flags.delete(flag.id, by=user, now=when)
        changed(when)
    with db.write() as session:
        when = next(steps)
        OverrideStore(session).apply(
            article, OverrideChange(add=("regulatory",)), user_id=editor, now=when
        )
    changed(when)
    with db.write() as session:
        when = next(steps)
        OverrideStore(session).clear_relevance(article, now=when)
    changed(when)


def test_reopened_irrelevant_flag_hides_again_and_dismissing_restores(db: Database) -> None:
    editor = make_user(db, "ed", "editor")
    (article,) = ingest(db, "https://a.example/feed", ["Deal signed"], NOW)
    with db.write() as session:
        flags = FlagStore(session)
        flag = flags.create(article, "irrelevant", "", user_id=editor, now=NOW)
        flags.resolve(flag.id, user_id=editor, now=LATER)  # confirmed: stays hidden
        row = session.get(Article, article)
        assert row is not None and row.relevant is False
        flags.reopen(flag.id, now=LATER)
        assert row.relevant is False
        flags.dismiss(flag.id, user_id=editor, now=LATER)  # "not irrelevant after all"
        assert row.relevant is True


def test_changes_report_updates_hidden_and_deleted_in_order(db: Database) -> None:
    editor = make_user(db, "ed", "editor")
    a, b = ingest(db, "https://a.example/feed", ["First", "Second"], NOW)
    (c,) = ingest(db, "https://c.example/feed", ["Third"], NOW + timedelta(minutes=1))
    flt = TimelineFilter(limit=2)

    def changed(flt: TimelineFilter, until: datetime = FAR) -> list[str]:
        with db.read() as session:
            page = changes(ArticleStore(session), flt, until=until)
        return [f"{ch.kind}:{ch.id}" for ch in page.items]

    with db.read() as session:
        first = changes(ArticleStore(session), flt, until=LATER)
    assert [ch.id for ch in first.items] == sorted([a, b]) and first.more
    assert first.position is not None
    rest = TimelineFilter(limit=2, cursor=first.position)
    assert changed(rest) == [f"article:{c}"]

    with db.write() as session:
        FlagStore(session).create(a, "irrelevant", "", user_id=editor, now=LATER)
        c_feed = FeedStore(session).find("https://c.example/feed").id
    with db.write() as session:
        FeedStore(session).remove(c_feed)  # c's only feed: c is deleted
    after = TimelineFilter(limit=10, cursor=first.position)
    found = changed(after)
    assert f"hidden:{a}" in found and f"deleted:{c}" in found and f"article:{b}" not in found
    assert changed(TimelineFilter(limit=10, relevance="all", cursor=first.position))[0] == (
        f"article:{a}"
    )
    # A change newer than `until` is not served yet (it may still be committing).
    assert changed(after, until=LATER - timedelta(seconds=1)) == []


def test_updated_since_pages_by_update_time(db: Database) -> None:
    ids = ingest(db, "https://a.example/feed", [f"Story {i}" for i in range(5)], NOW)
    editor = make_user(db, "ed", "editor")
    with db.write() as session:
        FlagStore(session).create(min(ids), "important", "", user_id=editor, now=LATER)
    seen: list[int] = []
    cursor: Cursor | None = None
    while True:
        flt = TimelineFilter(limit=2, updated_since=NOW, cursor=cursor)
        with db.read() as session:
            page = ArticleStore(session).timeline(flt)
        seen += [item.id for item in page.items]
        if page.next_cursor is None:
            break
        cursor = Cursor.decode(page.next_cursor, ("updated",))
    assert seen == [*sorted(ids)[1:], min(ids)]
    with db.read() as session:
        page = ArticleStore(session).timeline(TimelineFilter(updated_since=LATER))
    assert [item.id for item in page.items] == [min(ids)]
