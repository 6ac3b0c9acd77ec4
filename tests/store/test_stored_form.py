"""The parse workers encode what SQLite stores for a draft's dates and tags
(``app.store.stored``); the writer binds those values as they are. A draft written from
its stored form must leave exactly the rows a draft without one leaves (articles with
their SQLite types, theme rows, story clusters, search documents), and a draft that
changes must never carry the stored values of its old self."""

from __future__ import annotations

import dataclasses
import pickle
import subprocess
import sys
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite as sqlite_dialect

from app.core.decide import NO_TAGS, story_bands
from app.polling.ingest import PreparedFeed, prepare_feed
from app.store.article_writes import _COLUMNS, ArticleWrites, _row, _stored, _stored_row
from app.store.db import Database
from app.store.sqlite_file import sqlite_stamp
from app.store.stored import CLUSTER_WINDOW, stored_form, with_stored_form
from app.store.tables import Article
from tests.store.test_raw_insert import NOW, _draft

FEED = "https://outlet.example/feed.xml"


def _encoded(n: int, **changes: Any) -> Any:
    return with_stored_form(_draft(n, **changes))


def _sqlite_row(row: dict[str, Any]) -> tuple[Any, ...]:
    """The reference: ``_row``'s values as SQLAlchemy's own bind processing of each
    article column's type hands them to SQLite (dates as text, JSON as text, booleans as
    integers)."""
    dialect = sqlite_dialect()
    values = []
    for key, value in row.items():
        column_type = Article.__table__.c[key].type
        bind = column_type.dialect_impl(dialect).bind_processor(dialect)
        values.append(bind(value) if bind is not None and value is not None else value)
    return tuple(values)


def test_the_stored_row_is_the_row_the_writer_would_build() -> None:
    for n in range(1, 41):
        plain = _draft(n)
        assert plain.stored is None
        encoded = _encoded(n)
        assert encoded.stored is not None
        assert tuple(_row(plain, NOW, 7)) == _COLUMNS
        assert _stored_row(encoded, encoded.stored, sqlite_stamp(NOW), 7) == _sqlite_row(
            _row(plain, NOW, 7)
        )
        # A draft that came without one: the writer encodes the same values.
        assert _stored_row(plain, _stored(plain), sqlite_stamp(NOW), 7) == _sqlite_row(
            _row(plain, NOW, 7)
        )
        published = plain.published_at
        assert encoded.stored.window == (
            sqlite_stamp(published - CLUSTER_WINDOW),
            sqlite_stamp(published + CLUSTER_WINDOW),
        )


def test_a_changed_draft_carries_no_stored_values_of_its_old_self() -> None:
    encoded = _encoded(4)
    assert encoded.with_tags(NO_TAGS).stored is None
    moved = dataclasses.replace(encoded, published_at=encoded.published_at + timedelta(days=3))
    assert moved.stored is None
    assert moved == dataclasses.replace(_draft(4), published_at=moved.published_at)


def test_the_stored_values_travel_with_the_worker_result() -> None:
    drafts = (_encoded(1), _draft(2), _encoded(3))
    feed = PreparedFeed("T", None, "de", None, None, None, drafts)
    back = pickle.loads(pickle.dumps(feed))
    assert back == feed  # the drafts' own fields
    assert [d.stored for d in back.drafts] == [d.stored for d in drafts]
    assert back.drafts[1].stored is None


def test_a_worker_encodes_every_draft_it_tags() -> None:
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
    <item><title>Amazon and TikTok: senators ask about shoppers' data</title>
    <link>https://outlet.example/a/1</link><pubDate>Mon, 02 Nov 2026 09:00:00 GMT</pubDate>
    <description>Lawmakers question the in-app Amazon checkout on TikTok.</description></item>
    <item><title>Second item</title><link>https://outlet.example/a/2</link></item>
    </channel></rss>"""
    prepared = pickle.loads(pickle.dumps(prepare_feed(body, FEED, {}, NOW)))
    assert len(prepared.drafts) == 2
    for draft in prepared.drafts:
        assert draft.stored == stored_form(draft)
    # PostgreSQL's poller asks for none (it binds the tags through SQLAlchemy).
    for_postgres = prepare_feed(body, FEED, {}, NOW, False)
    assert for_postgres.drafts == prepared.drafts
    assert [d.stored for d in for_postgres.drafts] == [None, None]


def _dump(database: Database) -> dict[str, list[tuple[Any, ...]]]:
    columns = ", ".join(f"{c}, typeof({c})" for c in ("id", "cluster_id", *_COLUMNS))
    queries = {
        "article": f"SELECT {columns} FROM article ORDER BY id",
        "theme": "SELECT article_id, theme, score, evidence, origin, tag_version,"
        " typeof(evidence) FROM article_theme ORDER BY article_id, theme",
        "search": "SELECT id, doc FROM article_search ORDER BY id",
    }
    with database.read() as session:
        return {k: [tuple(r) for r in session.execute(text(q))] for k, q in queries.items()}


def test_a_batch_written_from_stored_values_stores_the_same_rows(
    two: tuple[Database, Database, int],
) -> None:
    stored_db, plain_db, feed_id = two
    # Copies of one story (same headline and body, an hour apart) join one cluster.
    title = "Amazon und TikTok: Händler prüfen den Kauf in der App"
    body = "Amazon und TikTok testen den Kauf in der App; Händler fragen nach den Daten. " * 4
    copies = {
        n: {
            "title": title,
            "text": body,
            "bands": story_bands(title),
            "published_at": NOW - timedelta(hours=n - 29),
        }
        for n in (30, 31)
    }
    numbers = range(1, 41)
    for database, build in ((stored_db, _encoded), (plain_db, _draft)):
        drafts = [build(n, **copies.get(n, {})) for n in numbers]
        with database.write() as session:
            result = ArticleWrites(session).upsert_batch(feed_id, drafts, now=NOW)
        assert result.new == 40 and not result.skipped
    got, want = _dump(stored_db), _dump(plain_db)
    assert got == want
    assert len(got["theme"]) == 80  # two themes per article
    clustered = [row for row in got["article"] if row[2] is not None]
    assert len(clustered) == 2  # the two copies, in one story


def test_the_workers_job_module_still_loads_without_sqlalchemy() -> None:
    """The parse workers import the encoder with their jobs; SQLAlchemy (~26 MB in each
    worker) must stay out of them."""
    probe = "import sys, app.polling.ingest; print('sqlalchemy' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "False"


def test_evidence_is_written_as_json_dumps_writes_it() -> None:
    """``evidence_list_json`` spells the JSON out instead of building a dict per item:
    the text must be json.dumps' own, on every labelled article's evidence (relevance
    and themes) and on terms that need quoting."""
    import json

    from app.core.types import Evidence
    from app.store.stored import evidence_json, evidence_list_json
    from app.tagging import load_tagger
    from app.tagging.evaluate import DEFAULT_FILES, read_labelled, tag_item

    def reference(evidence: Any) -> str:
        return json.dumps([evidence_json(e) for e in evidence])

    tagger = load_tagger()
    lists = 0
    for path in DEFAULT_FILES:
        for row in read_labelled(path):
            tags = tag_item(tagger, row)
            for evidence in (tags.relevance_evidence, *(t.evidence for t in tags.themes)):
                assert evidence_list_json(evidence) == reference(evidence)
                lists += bool(evidence)
    assert lists > 300
    odd = [
        Evidence('quote " and \\ back', "title", 0, 5),
        Evidence("Händler\u2028\U0001f600 \x00\x1f", "text", 10**9, 10**9 + 1),
        Evidence("", "summary", -1, 0),
        Evidence("lone \ud800 half", "title", 1, 2),
    ]
    assert evidence_list_json(odd) == reference(odd)
    assert json.loads(evidence_list_json(odd)) == [evidence_json(e) for e in odd]
    assert evidence_list_json([]) == "[]"
