"""``updated_at``: the one clock a mirror syncs by, and the tombstones of deleted rows.

Every write that changes what the API shows of an article (a new source, a re-tag, a
flag, an override, fetched full text) calls ``touch_articles`` in its own
transaction, so ``GET /api/v1/articles/changes`` and ``updated_since`` see it. No
trigger: the same statement works on both engines and the writes stay visible in
the code that makes them. Deleting an article leaves a tombstone, so a mirror can
drop it.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy import Table, update
from sqlalchemy.orm import Session

from app.store.db import insert_for
from app.store.tables import Article, ArticleTombstone


def touch_articles(session: Session, ids: Collection[int], now: datetime) -> None:
    """Mark articles as changed at ``now`` (never earlier than they already were)."""
    if not ids:
        return
    session.execute(
        update(Article)
        .where(Article.id.in_(sorted(set(ids))), Article.updated_at < now)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )


def touch_clusters(session: Session, cluster_ids: Collection[int], now: datetime) -> None:
    """Every member of these story clusters: each shows the sources of all of them."""
    if not cluster_ids:
        return
    session.execute(
        update(Article)
        .where(Article.cluster_id.in_(sorted(set(cluster_ids))), Article.updated_at < now)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )


def bury_articles(session: Session, ids: Collection[int], now: datetime) -> None:
    """Record the deletion of these articles (call before or after deleting them)."""
    if not ids:
        return
    table = ArticleTombstone.__table__
    assert isinstance(table, Table)
    stmt = insert_for(session.get_bind().dialect.name)(table)
    # A reused id deleted again: the newer deletion counts.
    stmt = stmt.on_conflict_do_update(
        index_elements=["article_id"], set_={"deleted_at": stmt.excluded.deleted_at}
    )
    session.execute(stmt, [{"article_id": i, "deleted_at": now} for i in sorted(set(ids))])
