"""The search index after migration 0006 (issue 16 §2): articles stored by ingest are
indexed in bulk, any other insert still by the trigger, and an update re-indexes; on
both engines, with accents folded the same way."""

from __future__ import annotations

from sqlalchemy import select, text

from app.core.decide import ArticleDraft
from app.core.timeline import TimelineFilter
from app.store.articles import ArticleStore
from app.store.db import Database
from app.store.search import ACCENTED, FOLD, fold_doc, index_pending
from app.store.tables import Article
from tests.store.test_ingest import NOW, draft, feed_id, ingest

__all__ = ["feed_id"]  # the fixture, imported for the tests below


def found(db: Database, query: str) -> list[str]:
    with db.read() as session:
        page = ArticleStore(session).timeline(TimelineFilter(relevance="all", q=query))
        return sorted(a.title for a in page.items)


def test_ingested_articles_are_searchable_with_accents_folded(db: Database, feed_id: int) -> None:
    ingest(
        db,
        feed_id,
        [
            draft(1, title="Händler prüfen Datensicherheit", text="Die Regulierungsbehörde fragt."),
            draft(2, title="Crème brûlée sales rise", text="Bakeries report ÉCLAIR demand."),
        ],
    )
    assert found(db, "datensicherheit") == ["Händler prüfen Datensicherheit"]
    assert found(db, "handler") == ["Händler prüfen Datensicherheit"]
    assert found(db, "creme brulee") == ["Crème brûlée sales rise"]
    assert found(db, "eclair") == ["Crème brûlée sales rise"]
    if db.dialect == "sqlite":  # the bulk switch is off again once the batch is stored
        with db.read() as session:
            assert session.execute(text("SELECT active FROM article_search_bulk")).scalar() == 0


def test_other_inserts_and_updates_are_indexed_by_the_triggers(db: Database, feed_id: int) -> None:
    with db.write() as session:
        session.add(
            Article(
                url="https://outlet.example/x",
                url_hash="x" * 64,
                title="Lagerhaus eröffnet",
                text="Ein neues Lager.",
                published_at=NOW,
                first_seen_at=NOW,
                updated_at=NOW,
            )
        )
    assert found(db, "eroffnet") == ["Lagerhaus eröffnet"]
    ingest(db, feed_id, [draft(3)])
    ingest(db, feed_id, [draft(3, title="Headline three, revised")])
    assert found(db, "revised") == ["Headline three, revised"]
    with db.read() as session:
        assert session.scalar(select(Article.title).where(Article.url_hash == "x" * 64))


def test_the_ingest_folds_documents_as_the_search_table_does() -> None:
    every = ACCENTED + ACCENTED.upper()
    samples = [
        "",
        "plain ascii only",
        every,
        f"Münchner Straße: {every} – “quoted” ÅÆØ ß ç ñ Ω 東京",
        "Ärger über Öl in Übersee",
    ]
    for doc in samples:
        assert fold_doc(doc) == doc.translate(FOLD)


# -- the poller's batches (migration 0011) ------------------------------------------


def ingest_later(db: Database, feed_id: int, drafts: list[ArticleDraft]) -> None:
    with db.write() as session:
        ArticleStore(session).upsert_batch(feed_id, drafts, now=NOW, search_later=True)


def index_now(db: Database) -> int:
    with db.write() as session:
        return index_pending(session)


def pending(db: Database) -> int:
    if db.dialect != "sqlite":
        return 0
    with db.read() as session:
        return int(
            session.execute(text("SELECT count(*) FROM article_search_pending")).scalar_one()
        )


def test_articles_stored_for_later_are_searchable_once_indexed(db: Database, feed_id: int) -> None:
    ingest_later(db, feed_id, [draft(1, title="Zollbehörde prüft Händler"), draft(2)])
    if db.dialect == "sqlite":  # waiting in the queue, the document already folded
        assert pending(db) == 2
    assert index_now(db) == (2 if db.dialect == "sqlite" else 0)
    assert pending(db) == 0
    assert found(db, "zollbehorde") == ["Zollbehörde prüft Händler"]
    assert index_now(db) == 0  # nothing twice: one hit, not two
    assert found(db, "handler") == ["Zollbehörde prüft Händler"]


def test_an_article_edited_while_pending_is_indexed_once_with_its_new_text(
    db: Database, feed_id: int
) -> None:
    ingest_later(db, feed_id, [draft(1, title="Warehouse opens in Ohio")])
    # Its own feed corrects the headline before the batch runs: the update trigger must
    # not ask the index to forget a document it never had (a contentless FTS5 table
    # would be corrupted), and indexes the new one at once.
    ingest(db, feed_id, [draft(1, title="Warehouse opens in Iowa")])
    assert pending(db) == 0
    assert found(db, "iowa") == ["Warehouse opens in Iowa"]
    assert found(db, "ohio") == []
    index_now(db)
    assert found(db, "warehouse") == ["Warehouse opens in Iowa"]
    with db.write() as session:  # an indexed row is forgotten exactly: no error, no hit
        session.execute(text("DELETE FROM article"))
    assert found(db, "warehouse") == []


def test_an_article_deleted_while_pending_leaves_the_index_consistent(
    db: Database, feed_id: int
) -> None:
    ingest(db, feed_id, [draft(1, title="Indexed courier story")])
    ingest_later(db, feed_id, [draft(2, title="Pending courier story")])
    with db.write() as session:
        session.execute(text("DELETE FROM article WHERE title LIKE 'Pending%'"))
    assert pending(db) == 0
    assert index_now(db) == 0
    assert found(db, "courier") == ["Indexed courier story"]
    if db.dialect == "sqlite":
        with db.write() as session:  # FTS5's own check of its structure
            session.execute(text("INSERT INTO article_fts(article_fts) VALUES ('integrity-check')"))


def test_pending_documents_are_indexed_in_bounded_batches_oldest_first(
    db: Database, feed_id: int
) -> None:
    ingest_later(db, feed_id, [draft(n, title=f"Ferry timetable {n}") for n in range(1, 6)])
    with db.write() as session:  # a batch holds the write lock for a bounded time
        first = index_pending(session, limit=2)
    if db.dialect != "sqlite":
        assert first == 0
        return
    assert first == 2 and pending(db) == 3
    assert len(found(db, "ferry")) == 2
    with db.write() as session:
        assert index_pending(session, limit=2) == 2
        assert index_pending(session, limit=2) == 1
        assert index_pending(session, limit=2) == 0
    assert len(found(db, "ferry")) == 5 and pending(db) == 0
