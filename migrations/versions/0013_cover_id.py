"""timeline cover index: PostgreSQL's carries the article id and outlet (INCLUDE)

Revision ID: 0013_cover_id
Revises: 0012_story_keys
Create Date: 2026-12-07 11:00:00

The volume chart of a search counts, per day and theme mask, the articles of a range of
``ix_article_timeline_cover`` that match the search: each article's id is looked up in
the search documents. SQLite's indexes end with the row id, so the range gives the id. A
PostgreSQL index holds only its columns, so every article of the range was read from the
heap for its id: ~32k rows for a month of 1M articles, most of them from the OS cache
under the default 128 MB of shared buffers (docs/decisions.md, "Stop 46"). With the id as
an included column the range is an index-only scan.

Share of voice by outlet (``primary_feed_id``, migration 0009) read ``ix_article_volume``,
which leads with the theme mask: one range per mask and bucket. With the outlet included
here as well, both splits read one range of this index per bucket. The index stays the
same size at 1M articles (47 MB with one included column or both).

PostgreSQL only: the index is rebuilt under its own name in the migration's transaction
(writers to ``article`` wait for the build, ~1-2 s at 1M articles). SQLite: nothing.
"""

from __future__ import annotations

from alembic import op

revision = "0013_cover_id"
down_revision = "0012_story_keys"
branch_labels = None
depends_on = None

NAME = "ix_article_timeline_cover"
COLUMNS = ["relevant", "published_at", "theme_mask", "language"]


def _rebuild(include: list[str]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index(NAME, table_name="article")
    op.create_index(NAME, "article", COLUMNS, postgresql_include=include)


def upgrade() -> None:
    _rebuild(["id", "primary_feed_id"])


def downgrade() -> None:
    _rebuild([])
