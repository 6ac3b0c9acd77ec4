"""feeds: the last parsed body's hash and the parser's warning

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 21:30:00

``body_hash`` (sha256 of the last body parsed without error) lets a poll skip
parsing and tagging when a server ignores validators and sends the same bytes
again. ``parse_warning`` keeps the reason feedparser flagged a feed it still
recovered entries from (a "bozo" feed), shown on the feed's health.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("feed", sa.Column("body_hash", sa.String(length=64), nullable=True))
    op.add_column("feed", sa.Column("parse_warning", sa.Text(), nullable=True))


def downgrade() -> None:
    # Plain DROP COLUMN (SQLite >= 3.35): no table rebuild, no other object touched.
    op.drop_column("feed", "parse_warning")
    op.drop_column("feed", "body_hash")
