"""search index: SQLite's full-text index merges its segments eight at a time

Revision ID: 0010_fts_automerge
Revises: 0009_primary_feed
Create Date: 2026-12-03 12:50:00

FTS5 writes each transaction's new terms as a segment and merges the segments of a
level into one of the next level once ``automerge`` of them (default 4) are there. The
poller commits once per feed, so a cold poll of the peer corpus's 200 feeds writes ~200
small segments and rewrites the trigram postings through about log4(200) levels of
merges. Merging eight at a time rewrites them through fewer levels (log8):

* the poller's writes on the peer corpus, replayed in one process under cachegrind:
  SQLite's instructions 7.10 G -> 6.30 G (-11 %), the whole replay 24.8 G -> 23.5 G;
* an index built 45 articles per transaction: 100,000 articles 16.1 -> 13.4 s of CPU
  (two runs each), 300,000 articles 63.7 -> 50.9 s;
* what a search reads: 16 -> 15 segments at 100,000 articles, 15 -> 20 at 300,000;
  eight MATCH queries took the same time at 100,000 and 164 -> 150 ms in all at
  300,000 (medians of 7, some slower, some faster).

The setting is stored in the index (``article_fts_config``), so it holds for every
writer. PostgreSQL's trigram index is a GIN index: nothing to change there.
"""

from __future__ import annotations

from alembic import op

revision = "0010_fts_automerge"
down_revision = "0009_primary_feed"
branch_labels = None
depends_on = None

AUTOMERGE = 8
DEFAULT = 4  # FTS5's own


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"INSERT INTO article_fts(article_fts, rank) VALUES('automerge', {AUTOMERGE})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute(f"INSERT INTO article_fts(article_fts, rank) VALUES('automerge', {DEFAULT})")
