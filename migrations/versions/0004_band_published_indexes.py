"""story bands: indexes on (band, published_at) replace the single-column band indexes

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24 21:00:00

Story-cluster candidates are the newest few articles sharing a band value inside
a time window (``band = v AND published_at BETWEEN .. ORDER BY published_at DESC
LIMIT n`` per value). With (band, published_at) that is a short walk down one
index on both engines; with the band-only index PostgreSQL fetched and sorted all
rows with the value, or (without statistics, as during a first ingest) intersected
it with every row of the window. The new indexes also serve plain equality
look-ups, so the old ones go. Not batch
mode on SQLite: recreating ``article`` would drop the search triggers of 0002.
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BANDS = ("band0", "band1", "band2", "band3")


def upgrade() -> None:
    for band in BANDS:
        op.create_index(f"ix_article_{band}_published", "article", [band, "published_at"])
        op.drop_index(f"ix_article_{band}", table_name="article")


def downgrade() -> None:
    for band in BANDS:
        op.create_index(f"ix_article_{band}", "article", [band])
        op.drop_index(f"ix_article_{band}_published", table_name="article")
