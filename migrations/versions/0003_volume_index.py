"""volume chart: an index on (theme_mask, relevant, published_at, language)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 19:00:00

The chart counts articles per (day, theme mask) cell; with this index each cell is
one range, counted from the index alone, so no engine sorts or hashes the year's
rows. The theme mask leads so that no timeline query (``relevant = ?`` ordered by
time) takes this index for its own, as SQLite does without statistics. Not batch
mode on SQLite: recreating ``article`` would drop the search triggers of 0002; a
plain CREATE INDEX is enough.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

NAME = "ix_article_volume"


def upgrade() -> None:
    op.create_index(NAME, "article", ["theme_mask", "relevant", "published_at", "language"])


def downgrade() -> None:
    op.drop_index(NAME, table_name="article")
