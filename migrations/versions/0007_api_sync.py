"""api sync: tombstones of deleted articles

Revision ID: 0007_api_sync
Revises: 0007_reading
Create Date: 2026-12-01 22:40:00

A mirror that syncs ``/api/v1/articles/changes`` must learn that an article is gone
(its feed was removed): ``article_tombstone`` keeps the id and when it went. The
``updated_at`` column it pairs with exists since 0001.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_api_sync"
down_revision = "0007_reading"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "article_tombstone",
        sa.Column("article_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("article_id", name=op.f("pk_article_tombstone")),
    )
    op.create_index(
        "ix_article_tombstone_deleted", "article_tombstone", ["deleted_at", "article_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_article_tombstone_deleted", table_name="article_tombstone")
    op.drop_table("article_tombstone")
