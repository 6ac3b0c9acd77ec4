"""share of voice: the outlet listed first on an article's card, stored on the article

Revision ID: 0009_primary_feed
Revises: 0008_alerts
Create Date: 2026-12-02 03:35:00

``article.primary_feed_id`` is the feed of the article's first ``article_source`` row in
(first_seen_at, feed_id) order, the order the card lists its outlets in. Triggers on
``article_source`` keep it so on every write path (ingest, a merge after extraction, a
feed removed and its rows cascaded, rows written by hand), on both engines. One
set-based UPDATE fills it for stored articles. ``ix_article_volume`` gains the column,
so the volume chart split by outlet is one covering index range per (day, theme mask),
as the unsplit chart. On PostgreSQL the trigger runs its UPDATE a second time when it
changed the row: by then it holds the row lock and a fresh snapshot, so two pollers
adding an earlier source at once cannot leave the later one's answer.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_primary_feed"
down_revision = "0008_alerts"
branch_labels = None
depends_on = None

INDEX = "ix_article_volume"
OLD_COLUMNS = ["theme_mask", "relevant", "published_at", "language"]


def _first(article: str) -> str:
    return (
        "(SELECT s.feed_id FROM article_source AS s WHERE s.article_id = "
        f"{article} ORDER BY s.first_seen_at, s.feed_id LIMIT 1)"
    )


def _sqlite_set(article: str) -> str:
    first = _first(article)
    return (
        f"UPDATE article SET primary_feed_id = {first} "
        f"WHERE id = {article} AND primary_feed_id IS NOT {first}"
    )


SQLITE_TRIGGERS = [
    "CREATE TRIGGER article_source_primary_ai AFTER INSERT ON article_source BEGIN\n"
    f"{_sqlite_set('new.article_id')};\nEND",
    "CREATE TRIGGER article_source_primary_ad AFTER DELETE ON article_source BEGIN\n"
    f"{_sqlite_set('old.article_id')};\nEND",
    "CREATE TRIGGER article_source_primary_au AFTER UPDATE ON article_source BEGIN\n"
    f"{_sqlite_set('old.article_id')};\n{_sqlite_set('new.article_id')};\nEND",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS article_source_primary_au",
    "DROP TRIGGER IF EXISTS article_source_primary_ad",
    "DROP TRIGGER IF EXISTS article_source_primary_ai",
]

_PG_SET = (
    "UPDATE article SET primary_feed_id = {first} "
    "WHERE id = {article} AND primary_feed_id IS DISTINCT FROM {first}"
)


def _pg_refresh(article: str) -> str:
    stmt = _PG_SET.format(first=_first(article), article=article)
    return f"    {stmt};\n    IF FOUND THEN\n        {stmt};\n    END IF;\n"


PG_UP = [
    "CREATE FUNCTION article_primary_feed() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  IF TG_OP IN ('UPDATE', 'DELETE') THEN\n"
    f"{_pg_refresh('OLD.article_id')}"
    "  END IF;\n"
    "  IF TG_OP IN ('UPDATE', 'INSERT') THEN\n"
    f"{_pg_refresh('NEW.article_id')}"
    "  END IF;\n"
    "  RETURN NULL;\n"
    "END $$",
    "CREATE TRIGGER article_source_primary AFTER INSERT OR UPDATE OR DELETE ON article_source"
    " FOR EACH ROW EXECUTE FUNCTION article_primary_feed()",
]
PG_DOWN = [
    "DROP TRIGGER IF EXISTS article_source_primary ON article_source",
    "DROP FUNCTION IF EXISTS article_primary_feed()",
]

BACKFILL = f"UPDATE article SET primary_feed_id = {_first('article.id')}"


def upgrade() -> None:
    op.add_column("article", sa.Column("primary_feed_id", sa.Integer(), nullable=True))
    op.execute(BACKFILL)  # one set-based statement: a primary-key range per article
    op.drop_index(INDEX, table_name="article")
    op.create_index(INDEX, "article", [*OLD_COLUMNS, "primary_feed_id"])
    sqlite = op.get_bind().dialect.name == "sqlite"
    for stmt in SQLITE_TRIGGERS if sqlite else PG_UP:
        op.execute(stmt)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for stmt in SQLITE_DROP if sqlite else PG_DOWN:
        op.execute(stmt)
    op.drop_index(INDEX, table_name="article")
    op.create_index(INDEX, "article", OLD_COLUMNS)
    # Plain ALTER TABLE on both engines (batch mode would drop 0002's search triggers).
    op.execute("ALTER TABLE article DROP COLUMN primary_feed_id")
