"""search index: the poller's new articles reach SQLite's full-text index in batches

Revision ID: 0011_search_pending
Revises: 0010_fts_automerge
Create Date: 2026-12-04 19:00:00

FTS5 turns each transaction's new terms into a segment when the transaction commits, and
merges segments as they pile up. The poller commits once per feed (~45 articles on the
peer corpus), so the trigram postings of a cold poll were written as ~200 small
segments and merged again and again: replayed in one process, indexing per feed cost
0.8-1.0 s of the writer's 3.4 s of CPU, the same 9,095 documents in one transaction
0.36 s, in batches of 1,000 0.45 s.

Now the poller stores each new article's folded document in ``article_search`` as before
and its id in ``article_search_pending``, in the feed's own transaction; it moves the pending
documents into ``article_fts`` every few seconds, at the end of each round and at the start
of the next, up to 1,000 in a statement (``store.search.index_pending``): a killed poller
leaves its pending rows for the next one, never an article the index lost.

Every other writer still indexes at once (the insert trigger of 0006). The update and
delete triggers learn about pending rows: a contentless FTS5 table must be told the
exact document to forget, and a pending article is not in it yet, so they forget only
indexed rows; an update indexes the new document at once and drops the pending mark.

PostgreSQL's trigram index is a GIN index kept by a statement trigger: nothing changes.
"""

from __future__ import annotations

from alembic import op

revision = "0011_search_pending"
down_revision = "0010_fts_automerge"
branch_labels = None
depends_on = None

# Frozen copies of migration 0002's folding (migrations are frozen).
ACCENTED = "àáâãäåçèéêëìíîïñòóôõöøùúûüýÿāăąćčďđēęěğīłńňōőřśšşťūůűźżž"
PLAIN = "aaaaaaceeeeiiiinoooooouuuuyyaaaccddeeegilnnoorssstuuuzzz"
FROM = ACCENTED + ACCENTED.upper()
TO = PLAIN + PLAIN
STAGE = 14
DOC = "(title || ' ' || text)"
PENDING = "SELECT id FROM article_search_pending"


def _fold_stage(expr: str, stage: int) -> str:
    pairs = list(zip(FROM, TO, strict=True))[stage * STAGE : (stage + 1) * STAGE]
    for accented, plain in pairs:
        expr = f"replace({expr}, '{accented}', '{plain}')"
    return expr


def _fill(where: str) -> list[str]:
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


def _forget(where: str, *, pending_aware: bool) -> list[str]:
    indexed = f" AND id NOT IN ({PENDING})" if pending_aware else ""
    return [
        "INSERT INTO article_fts(article_fts, rowid, doc) "
        f"SELECT 'delete', id, doc FROM article_search WHERE {where}{indexed}",
        f"DELETE FROM article_search WHERE {where}",
    ]


def _triggers(pending_aware: bool) -> list[str]:
    unmark = ["DELETE FROM article_search_pending WHERE id = old.id"] if pending_aware else []
    delete = [*_forget("id = old.id", pending_aware=pending_aware), *unmark]
    update = [*_forget("id = old.id", pending_aware=pending_aware), *_fill("id = new.id"), *unmark]
    return [
        "DROP TRIGGER IF EXISTS article_fts_ad",
        "DROP TRIGGER IF EXISTS article_fts_au",
        "CREATE TRIGGER article_fts_ad AFTER DELETE ON article BEGIN\n"
        + ";\n".join(delete)
        + ";\nEND",
        "CREATE TRIGGER article_fts_au AFTER UPDATE OF title, text ON article BEGIN\n"
        + ";\n".join(update)
        + ";\nEND",
    ]


SQLITE_UP = [
    # Articles whose document is in article_search and not yet in article_fts.
    "CREATE TABLE article_search_pending (id INTEGER PRIMARY KEY)",
    *_triggers(pending_aware=True),
]
SQLITE_DOWN = [
    # Index what is pending first: the old triggers assume every document is indexed.
    "INSERT INTO article_fts(rowid, doc) SELECT s.id, s.doc FROM article_search_pending AS p "
    "JOIN article_search AS s ON s.id = p.id",
    *_triggers(pending_aware=False),
    "DROP TABLE article_search_pending",
]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_DOWN:
            op.execute(statement)
