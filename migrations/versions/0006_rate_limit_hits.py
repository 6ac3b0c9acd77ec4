"""rate limits: failed attempts counted in the database, shared by every worker

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 22:20:00

Login and token failures were counted per process, so N web workers allowed N times
the limit. ``rate_limit_hit`` keeps one row per failure (the key hashed); the limiter
counts the rows of the window and prunes older ones.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "rate_limit_hit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("bucket", sa.String(length=32), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rate_limit_hit")),
    )
    op.create_index(
        "ix_rate_limit_hit_bucket_key_at", "rate_limit_hit", ["bucket", "key_hash", "at"]
    )


def downgrade() -> None:
    op.drop_index("ix_rate_limit_hit_bucket_key_at", table_name="rate_limit_hit")
    op.drop_table("rate_limit_hit")
