"""full-text search (FTS5 trigram / pg_trgm) and the timeline covering index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 09:00:00

The search document is ``title + ' ' + text``, lower-cased and accent-folded the
same way as ``app.store.search.fold`` (a frozen copy of its table is below).
SQLite: ``article_search(id, doc)`` plus a contentless FTS5 table over ``doc``
with the trigram tokenizer, both kept in sync by triggers. PostgreSQL: ``article_search(id, doc)`` kept in sync by a trigger,
with a pg_trgm GIN index when the extension can be installed.
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ACCENTED = "àáâãäåçèéêëìíîïñòóôõöøùúûüýÿāăąćčďđēęěğīłńňōőřśšşťūůűźżž"
PLAIN = "aaaaaaceeeeiiiinoooooouuuuyyaaaccddeeegilnnoorssstuuuzzz"
FROM = ACCENTED + ACCENTED.upper()
TO = PLAIN + PLAIN


STAGE = 14  # SQLite's parser refuses much deeper nesting of replace() calls


def _fold_stage(expr: str, stage: int) -> str:
    # SQLite has no translate(): nested replace() calls fold the accents (the trigram
    # tokenizer folds case), in stages of STAGE characters.
    pairs = list(zip(FROM, TO, strict=True))[stage * STAGE : (stage + 1) * STAGE]
    for accented, plain in pairs:
        expr = f"replace({expr}, '{accented}', '{plain}')"
    return expr


def _sqlite_fill(where: str, source: str) -> list[str]:
    """Statements that compute article_search.doc for the rows ``where`` selects."""
    stages = range(1, (len(FROM) + STAGE - 1) // STAGE)
    return [
        f"INSERT INTO article_search(id, doc) SELECT id, {_fold_stage(source, 0)} "
        f"FROM article WHERE {where}",
        *(
            f"UPDATE article_search SET doc = {_fold_stage('doc', n)} WHERE {where}"
            for n in stages
        ),
        f"INSERT INTO article_fts(rowid, doc) SELECT id, doc FROM article_search WHERE {where}",
    ]


def _sqlite_forget(where: str) -> list[str]:
    return [
        "INSERT INTO article_fts(article_fts, rowid, doc) "
        f"SELECT 'delete', id, doc FROM article_search WHERE {where}",
        f"DELETE FROM article_search WHERE {where}",
    ]


def _trigger(name: str, event: str, statements: list[str]) -> str:
    body = ";\n".join(statements)
    return f"CREATE TRIGGER {name} AFTER {event} ON article BEGIN\n{body};\nEND"


DOC = "(title || ' ' || text)"
# article_search holds the folded document: the contentless FTS5 table needs the
# indexed value again to delete it, and the staged folding needs somewhere to work.
SQLITE_TABLES = [
    "CREATE TABLE article_search (id INTEGER PRIMARY KEY, doc TEXT NOT NULL)",
    "CREATE VIRTUAL TABLE article_fts USING fts5(doc, content='', tokenize='trigram')",
]
SQLITE_TRIGGERS = [
    _trigger("article_fts_ai", "INSERT", _sqlite_fill("id = new.id", DOC)),
    _trigger("article_fts_ad", "DELETE", _sqlite_forget("id = old.id")),
    _trigger(
        "article_fts_au",
        "UPDATE OF title, text",
        [*_sqlite_forget("id = old.id"), *_sqlite_fill("id = new.id", DOC)],
    ),
]
SQLITE_DROP_TRIGGERS = [
    "DROP TRIGGER IF EXISTS article_fts_au",
    "DROP TRIGGER IF EXISTS article_fts_ad",
    "DROP TRIGGER IF EXISTS article_fts_ai",
]
SQLITE_UP = [*SQLITE_TABLES, *_sqlite_fill("1", DOC), *SQLITE_TRIGGERS]
SQLITE_DOWN = [
    *SQLITE_DROP_TRIGGERS,
    "DROP TABLE IF EXISTS article_fts",
    "DROP TABLE IF EXISTS article_search",
]

PG_DOC = f"lower(translate(NEW.title || ' ' || NEW.text, '{FROM}', '{TO}'))"
PG_UP = [
    """CREATE TABLE article_search (
        id integer PRIMARY KEY REFERENCES article(id) ON DELETE CASCADE,
        doc text NOT NULL
    )""",
    f"""CREATE FUNCTION article_search_sync() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO article_search(id, doc) VALUES (NEW.id, {PG_DOC})
        ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER article_search_sync AFTER INSERT OR UPDATE OF title, text ON article
        FOR EACH ROW EXECUTE FUNCTION article_search_sync()""",
    f"""INSERT INTO article_search(id, doc)
        SELECT id, lower(translate(title || ' ' || text, '{FROM}', '{TO}')) FROM article""",
]
PG_DOWN = [
    "DROP TRIGGER IF EXISTS article_search_sync ON article",
    "DROP FUNCTION IF EXISTS article_search_sync()",
    "DROP TABLE IF EXISTS article_search",
]
# In schema public so that per-schema test databases share one installation.
PG_TRGM = """DO $$ BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm WITH SCHEMA public;
EXCEPTION WHEN others THEN RAISE NOTICE 'pg_trgm unavailable: search without an index';
END $$"""
PG_TRGM_INDEX = """DO $$ BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm') THEN
        CREATE INDEX ix_article_search_doc ON article_search
            USING gin (doc public.gin_trgm_ops);
    END IF;
END $$"""


def upgrade() -> None:
    # Not batch mode: recreating the table on SQLite would drop the triggers below.
    op.create_index(
        "ix_article_timeline_cover", "article", ["relevant", "published_at", "theme_mask", "language"]
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in [PG_TRGM, *PG_UP, PG_TRGM_INDEX]:
            op.execute(statement)
    else:
        for statement in SQLITE_UP:
            op.execute(statement)


def downgrade() -> None:
    statements = PG_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN
    for statement in statements:
        op.execute(statement)
    op.drop_index("ix_article_timeline_cover", table_name="article")
