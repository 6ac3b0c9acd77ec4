"""full text from article pages: the extraction queue, the page's text beside the feed's

Revision ID: 0006_extract
Revises: 0006
Create Date: 2026-12-01 22:30:00

``extraction`` is the queue (claimed with a lease) and afterwards the record of
each article's page: outcome, when, from where. ``article.page_content`` keeps the
page's sanitised HTML apart from the feed's summary and content; ``text_source``
says whether ``text`` came from the feed or the page; ``canonical_hash`` finds one
article declared under two URLs; ``outlet`` is a news-search feed's ``<source>``.
``feed.fulltext_policy`` is the per-feed policy (NULL: the setting's default).
Plain ADD COLUMN, never batch mode: recreating ``article`` would drop the search
triggers of 0002.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0006_extract"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("feed", sa.Column("fulltext_policy", sa.String(length=8), nullable=True))
    op.add_column(
        "article", sa.Column("page_content", sa.Text(), nullable=False, server_default="")
    )
    op.add_column(
        "article",
        sa.Column("text_source", sa.String(length=8), nullable=False, server_default="feed"),
    )
    op.add_column("article", sa.Column("canonical_hash", sa.String(length=64), nullable=True))
    op.add_column("article", sa.Column("outlet", sa.Text(), nullable=True))
    op.create_index("ix_article_canonical_hash", "article", ["canonical_hash"])
    op.create_table(
        "extraction",
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("host", sa.String(length=255), nullable=True),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("final_url", sa.Text(), nullable=True),
        sa.Column("site_name", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["article.id"],
            name="fk_extraction_article_id_article",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("article_id", name="pk_extraction"),
    )
    op.create_index("ix_extraction_due", "extraction", ["state", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_extraction_due", table_name="extraction")
    op.drop_table("extraction")
    op.drop_index("ix_article_canonical_hash", table_name="article")
    for column in ("outlet", "canonical_hash", "text_source", "page_content"):
        op.drop_column("article", column)
    op.drop_column("feed", "fulltext_policy")
