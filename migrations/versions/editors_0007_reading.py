"""reading workflow: per-user visits and time zone, read articles, saved views

Revision ID: 0007_reading
Revises: 0006_bulk_search
Create Date: 2026-12-01 22:45:00

``user_pref`` keeps each user's last two visits (articles first seen after the
previous one are "new") and time zone; ``article_read`` the articles a user read
or marked as read; ``saved_view`` named timeline filters (a query string checked
by the timeline's parser), personal or shared with the team (``owner_id`` null).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_reading"
down_revision = "0006_bulk_search"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_pref",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("time_zone", sa.String(length=64), nullable=True),
        sa.Column("visited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("previous_visit_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_user_pref_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_user_pref")),
    )
    op.create_table(
        "article_read",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["article.id"],
            name=op.f("fk_article_read_article_id_article"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["user.id"], name=op.f("fk_article_read_user_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "article_id", name=op.f("pk_article_read")),
    )
    op.create_index(
        op.f("ix_article_read_article_id"), "article_read", ["article_id"], unique=False
    )
    op.create_table(
        "saved_view",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("query", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["user.id"], name=op.f("fk_saved_view_owner_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_saved_view")),
    )
    op.create_index(op.f("ix_saved_view_owner_id"), "saved_view", ["owner_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_saved_view_owner_id"), table_name="saved_view")
    op.drop_table("saved_view")
    op.drop_index(op.f("ix_article_read_article_id"), table_name="article_read")
    op.drop_table("article_read")
    op.drop_table("user_pref")
