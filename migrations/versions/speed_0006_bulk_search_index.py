"""search index: new articles indexed in bulk, not row by row

Revision ID: 0006_bulk_search
Revises: 0006_extract
Create Date: 2026-12-01 22:45:00

Migration 0002 indexed every inserted article with a row trigger: on SQLite six
statements per row (the accent folding staged through nested ``replace()``), the
largest single cost of a cold ingest. Now:

* PostgreSQL: the INSERT trigger is a statement trigger over the inserted rows
  (a transition table), one set-based insert per statement; UPDATE stays a row
  trigger (transition tables cannot name columns).
* SQLite has no statement triggers. The row trigger stays for every other writer
  but is skipped while ``article_search_bulk.active`` is 1, which the ingest path
  sets inside its own write transaction and resets before it commits; it then
  indexes the batch itself (``store.search_index``) with the document folded in
  Python, the same character table as 0002. SQLite has one writer at a time, so
  no other transaction ever sees the flag set.
"""

from __future__ import annotations

from alembic import op

revision = "0006_bulk_search"
down_revision = "0006_extract"
branch_labels = None
depends_on = None

# Frozen copies of migration 0002's folding (migrations are frozen).
ACCENTED = "àáâãäåçèéêëìíîïñòóôõöøùúûüýÿāăąćčďđēęěğīłńňōőřśšşťūůűźżž"
PLAIN = "aaaaaaceeeeiiiinoooooouuuuyyaaaccddeeegilnnoorssstuuuzzz"
FROM = ACCENTED + ACCENTED.upper()
TO = PLAIN + PLAIN
STAGE = 14
DOC = "(title || ' ' || text)"


def _fold_stage(expr: str, stage: int) -> str:
    pairs = list(zip(FROM, TO, strict=True))[stage * STAGE : (stage + 1) * STAGE]
    for accented, plain in pairs:
        expr = f"replace({expr}, '{accented}', '{plain}')"
    return expr


def _sqlite_fill(where: str) -> list[str]:
    stages = range(1, (len(FROM) + STAGE - 1) // STAGE)
    return [
        f"INSERT INTO article_search(id, doc) SELECT id, {_fold_stage(DOC, 0)} "
        f"FROM article WHERE {where}",
        *(
            f"UPDATE article_search SET doc = {_fold_stage('doc', n)} WHERE {where}"
            for n in stages
        ),
        f"INSERT INTO article_fts(rowid, doc) SELECT id, doc FROM article_search WHERE {where}",
    ]


def _sqlite_insert_trigger(when: str) -> str:
    body = ";\n".join(_sqlite_fill("id = new.id"))
    return f"CREATE TRIGGER article_fts_ai AFTER INSERT ON article{when} BEGIN\n{body};\nEND"


SQLITE_UP = [
    "CREATE TABLE article_search_bulk (active INTEGER NOT NULL)",
    "INSERT INTO article_search_bulk(active) VALUES (0)",
    "DROP TRIGGER IF EXISTS article_fts_ai",
    _sqlite_insert_trigger(" WHEN (SELECT active FROM article_search_bulk) = 0"),
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS article_fts_ai",
    _sqlite_insert_trigger(""),
    "DROP TABLE IF EXISTS article_search_bulk",
]

PG_DOC = f"lower(translate(r.title || ' ' || r.text, '{FROM}', '{TO}'))"
PG_UP = [
    "DROP TRIGGER IF EXISTS article_search_sync ON article",
    f"""CREATE FUNCTION article_search_insert() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        INSERT INTO article_search(id, doc) SELECT r.id, {PG_DOC} FROM new_rows AS r
        ON CONFLICT (id) DO UPDATE SET doc = EXCLUDED.doc;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER article_search_insert AFTER INSERT ON article
        REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT
        EXECUTE FUNCTION article_search_insert()""",
    # The row function of 0002 stays, for updates only.
    """CREATE TRIGGER article_search_sync AFTER UPDATE OF title, text ON article
        FOR EACH ROW EXECUTE FUNCTION article_search_sync()""",
]
PG_DOWN = [
    "DROP TRIGGER IF EXISTS article_search_sync ON article",
    "DROP TRIGGER IF EXISTS article_search_insert ON article",
    "DROP FUNCTION IF EXISTS article_search_insert()",
    """CREATE TRIGGER article_search_sync AFTER INSERT OR UPDATE OF title, text ON article
        FOR EACH ROW EXECUTE FUNCTION article_search_sync()""",
]


def upgrade() -> None:
    statements = PG_UP if op.get_bind().dialect.name == "postgresql" else SQLITE_UP
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    statements = PG_DOWN if op.get_bind().dialect.name == "postgresql" else SQLITE_DOWN
    for statement in statements:
        op.execute(statement)
