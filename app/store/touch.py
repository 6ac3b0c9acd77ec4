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
from functools import lru_cache

from sqlalchemy import Table, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from app.store.db import insert_for, run_on_driver
from app.store.sqlite_file import marks, sqlite_stamp
from app.store.tables import Article, ArticleTombstone


def touch_articles(session: Session, ids: Collection[int], now: datetime) -> None:
    """Mark articles as changed at ``now`` (never earlier than they already were)."""
    _touch(session, Article.id, ids, now)


def touch_clusters(session: Session, cluster_ids: Collection[int], now: datetime) -> None:
    """Every member of these story clusters: each shows the sources of all of them."""
    _touch(session, Article.cluster_id, cluster_ids, now)


def _touch(
    session: Session, column: InstrumentedAttribute[int | None], ids: Collection[int], now: datetime
) -> None:
    if not ids:
        return
    wanted = sorted(set(ids))
    if session.get_bind().dialect.name == "sqlite":  # the same UPDATE, without SQLAlchemy's
        stamp = sqlite_stamp(now)  # per-statement work (ingest runs two a feed)
        run_on_driver(session, _touch_sql(column.key, len(wanted)), [stamp, *wanted, stamp])
        return
    session.execute(
        update(Article)
        .where(column.in_(wanted), Article.updated_at < now)
        .values(updated_at=now)
        .execution_options(synchronize_session=False)
    )


@lru_cache(maxsize=512)
def _touch_sql(column: str, n: int) -> str:
    # Only the two column names above and placeholders go in the text.
    return f"UPDATE article SET updated_at = ? WHERE {column} IN ({marks(n)}) AND updated_at < ?"  # noqa: S608


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
