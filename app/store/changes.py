"""The changes feed: what a mirror must apply, in order, to stay equal to newsmon.

Reads only; the clock it reads by (``updated_at``) and the tombstones are written
by ``store.touch`` from every write path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select, tuple_

from app.core.timeline import Cursor, TimelineFilter
from app.core.types import Article as ArticleValue
from app.store.articles import LISTED, ArticleStore
from app.store.tables import Article, ArticleTombstone


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of the changes feed: an article as it is now (``kind="article"``),
    one that no longer matches the filter (``"hidden"``), or one deleted (``"deleted"``)."""

    id: int
    changed_at: datetime
    kind: str
    article: ArticleValue | None = None


@dataclass(frozen=True, slots=True)
class ChangePage:
    items: tuple[Change, ...]
    position: Cursor | None  # after the last item: where the next call resumes
    more: bool


def changes(store: ArticleStore, flt: TimelineFilter, *, until: datetime) -> ChangePage:
    """Every article changed or deleted after the cursor (or since ``updated_since``)
    and no later than ``until``, by ``(time, id)``. Articles that changed but no
    longer match ``flt`` come as "hidden", so a mirror of a filtered view drops them.

    Two index walks (articles by ``updated_at``, tombstones by ``deleted_at``)
    merged here, each bounded by the page size.
    """
    after, wanted = flt.cursor, flt.limit + 1
    live = select(Article.updated_at, Article.id).where(Article.updated_at <= until)
    dead = select(ArticleTombstone.deleted_at, ArticleTombstone.article_id).where(
        ArticleTombstone.deleted_at <= until
    )
    if flt.updated_since is not None:
        live = live.where(Article.updated_at >= flt.updated_since)
        dead = dead.where(ArticleTombstone.deleted_at >= flt.updated_since)
    if after is not None:
        mark = tuple_(after.published_at, after.id)
        live = live.where(tuple_(Article.updated_at, Article.id) > mark)
        tomb = tuple_(ArticleTombstone.deleted_at, ArticleTombstone.article_id)
        dead = dead.where(tomb > mark if after.rank else tomb >= mark)
    live = live.order_by(Article.updated_at, Article.id).limit(wanted)
    dead = dead.order_by(ArticleTombstone.deleted_at, ArticleTombstone.article_id)
    merged = sorted(
        [(t, i, 0) for t, i in store.session.execute(live)]
        + [(t, i, 1) for t, i in store.session.execute(dead.limit(wanted))]
    )[:wanted]
    more = len(merged) > flt.limit
    merged = merged[: flt.limit]
    shown = _matching(store, [i for _, i, rank in merged if rank == 0], flt)
    items = tuple(
        Change(i, t, "deleted")
        if rank
        else Change(i, t, "article", shown[i])
        if i in shown
        else Change(i, t, "hidden")
        for t, i, rank in merged
    )
    position = after
    if merged:
        t, i, rank = merged[-1]
        position = Cursor(t, i, "changes", rank)
    return ChangePage(items, position, more)


def _matching(
    store: ArticleStore, ids: Sequence[int], flt: TimelineFilter
) -> dict[int, ArticleValue]:
    if not ids:
        return {}
    plain = replace(flt, cursor=None, updated_since=None)
    stmt = store._filtered(select(Article).options(LISTED), plain).where(Article.id.in_(ids))
    return {a.id: a for a in store.to_values(list(store.session.scalars(stmt)))}
