"""ArticleStore: the timeline's queries, on top of the writes of ``store.article_writes``.

Every timeline query is keyset-paged or bounded; ``delete_orphans`` tidies up after a
feed is removed. ``transient_error`` and ``UpsertResult`` are re-exported for callers
of the ingest methods.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Date,
    DateTime,
    Integer,
    Select,
    String,
    Text,
    cast,
    column,
    delete,
    exists,
    func,
    literal,
    select,
    true,
    tuple_,
    values,
)
from sqlalchemy.orm import Session, load_only

from app.core.timeline import (
    THEME_BITS,
    ArticleDetail,
    Cursor,
    FlagEntry,
    TimelineFilter,
    VolumeBucket,
    bucket_volume,
    group_volume,
)
from app.core.types import Article as ArticleValue
from app.core.types import Evidence, Page, Source, StoryCopy, ThemeTag
from app.store.article_writes import ArticleWrites, UpsertResult, transient_error
from app.store.extraction import ExtractionStore
from app.store.search import (
    UNINDEXED_ID,
    SearchQuery,
    doc_clause,
    fewer_matches_than,
    match_expression,
    parse_query,
    search_clause,
    search_doc,
)
from app.store.tables import (
    Article,
    ArticleSource,
    ArticleTheme,
    Feed,
    Flag,
    User,
)
from app.store.touch import bury_articles

# A search first checks the newest SEARCH_WINDOW rows of the filtered timeline one by
# one; only when fewer than a page of them match does it ask the full-text index for
# every match (cheap then: the terms are rare).
SEARCH_WINDOW = 2000
# The volume chart of a search looks each article up in the full-text index's matches
# when there are fewer than this many (a few milliseconds to collect), and otherwise
# tests the terms on each article's folded document.
RARE_MATCHES = 10_000
__all__ = ["ArticleStore", "UpsertResult", "delete_orphans", "transient_error"]


# The columns a listed article's values read (``to_values`` without content): a timeline
# page leaves the wide ones (plain text, content, the tagger's evidence and scores) in
# the database instead of decoding them for fifty rows and dropping them.
LISTED = load_only(
    Article.id,
    Article.url,
    Article.title,
    Article.summary,
    Article.language,
    Article.published_at,
    Article.published_estimated,
    Article.first_seen_at,
    Article.relevant,
    Article.relevance_score,
    Article.relevance_reason,
    Article.cluster_id,
    Article.text_source,
    Article.author,
    Article.updated_at,
)


def _bucket_spans(interval: str, start: date, end: date) -> list[tuple[date, date]]:
    """The chart's buckets from ``start`` to ``end`` (inclusive dates) as ``(first day,
    the day after the last)``: days, or weeks from Monday cut to the range."""
    spans = []
    first, stop = start, end + timedelta(days=1)
    while first < stop:
        after = first + timedelta(days=1)
        if interval == "week":
            after = first + timedelta(days=7 - first.weekday())
        spans.append((first, min(after, stop)))
        first = after
    return spans


def _mask_grid() -> Any:
    """Every theme mask as a row (``mask``): the volume index leads with the mask, so a
    chart reads one range of it per mask (and per day or bucket)."""
    return (
        values(column("mask", Integer), name="volume_mask")
        .data([(m,) for m in range(1 << len(THEME_BITS))])
        .cte("volume_mask")
    )


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, time.min, UTC)


@functools.lru_cache(maxsize=8192)
def _evidence(stored: str | None) -> tuple[Evidence, ...]:
    """A theme's evidence from its stored JSON text. Timeline pages show the same
    articles again and again: their evidence is decoded once, not for every page (it
    was a tenth of a page's CPU). The values are immutable, so sharing them is safe."""
    return tuple(Evidence(**e) for e in json.loads(stored or "null") or ())


class ArticleStore(ArticleWrites):
    """Articles on one session: the writes of ``ArticleWrites`` and the reads here."""

    # -- reading --------------------------------------------------------------

    def timeline(self, flt: TimelineFilter) -> Page[ArticleValue]:
        by_update = flt.cursor.order == "updated" if flt.cursor else bool(flt.updated_since)
        if by_update:  # a cursor goes on in its own order
            return self._by_update(flt)
        rows = self._search_window(flt) if flt.q else None
        if rows is None:
            stmt = self._keyset(self._filtered(select(Article).options(LISTED), flt), flt)
            rows = list(self.session.scalars(stmt.limit(flt.limit + 1)))
        more = len(rows) > flt.limit
        rows = rows[: flt.limit]
        items = self.to_values(rows)
        next_cursor = None
        if more and rows:
            next_cursor = Cursor(rows[-1].published_at, rows[-1].id).encode()
        return Page(items=tuple(items), next_cursor=next_cursor)

    def _by_update(self, flt: TimelineFilter) -> Page[ArticleValue]:
        """Changed since ``updated_since``, oldest change first, by ``(updated_at, id)``:
        a row changed while a client pages moves behind its cursor, so it comes again
        later instead of being skipped."""
        stmt = self._filtered(select(Article).options(LISTED), flt)
        if flt.cursor is not None:
            position = tuple_(flt.cursor.published_at, flt.cursor.id)
            stmt = stmt.where(tuple_(Article.updated_at, Article.id) > position)
        stmt = stmt.order_by(Article.updated_at, Article.id).limit(flt.limit + 1)
        rows = list(self.session.scalars(stmt))
        more = len(rows) > flt.limit
        rows = rows[: flt.limit]
        next_cursor = None
        if more:
            next_cursor = Cursor(rows[-1].updated_at, rows[-1].id, "updated").encode()
        return Page(items=tuple(self.to_values(rows)), next_cursor=next_cursor)

    @staticmethod
    def _keyset(stmt: Select[Any], flt: TimelineFilter) -> Select[Any]:
        """Newest first, after the cursor."""
        if flt.cursor is not None:
            stmt = stmt.where(
                tuple_(Article.published_at, Article.id)
                < tuple_(flt.cursor.published_at, flt.cursor.id)
            )
        return stmt.order_by(Article.published_at.desc(), Article.id.desc())

    def _search_window(self, flt: TimelineFilter) -> list[Article] | None:
        """A page of a search from the newest rows of the timeline, or None.

        Walks the time index (LIMIT bounds it, so no engine collects every match of a
        common term and sorts them), fetching each row's folded document by primary
        key and testing the terms on it. Exact when a full page (plus one) matches:
        every row outside the window is older than all of them.
        """
        assert flt.q is not None
        dialect = self.dialect
        doc = select(search_doc.c.doc).where(search_doc.c.id == Article.id).scalar_subquery()
        base: Select[Any] = select(Article.id, Article.published_at, doc.label("doc"))
        window = (
            self._keyset(self._filtered(base, replace(flt, q=None)), flt)
            .limit(SEARCH_WINDOW)
            .subquery()
        )
        cond = doc_clause(parse_query(flt.q), window.c.doc, dialect)
        if cond is None:
            return None
        ids = list(
            self.session.scalars(
                select(window.c.id)
                .where(cond)
                .order_by(window.c.published_at.desc(), window.c.id.desc())
                .limit(flt.limit + 1)
            )
        )
        if len(ids) <= flt.limit:
            return None
        listed = select(Article).options(LISTED).where(Article.id.in_(ids))
        found = {a.id: a for a in self.session.scalars(listed)}
        return [found[i] for i in ids if i in found]

    def filtered(self, stmt: Select[Any], flt: TimelineFilter) -> Select[Any]:
        """``stmt`` (over ``article``) narrowed by every part of ``flt`` but the cursor and
        limit: for stores that count or mark the timeline's articles (read state)."""
        return self._filtered(stmt, flt)

    def _filtered(
        self, stmt: Select[Any], flt: TimelineFilter, *, scan: bool = False
    ) -> Select[Any]:
        """``scan``: ``stmt`` reads ranges of the volume index; on SQLite a search and
        the outlets are checked against them instead of leading the statement
        (``search_clause``)."""
        if flt.relevance == "relevant":
            stmt = stmt.where(Article.relevant.is_(True))
        if flt.themes:
            mask = flt.theme_mask
            if flt.themes_mode == "all":
                stmt = stmt.where(Article.theme_mask.op("&")(mask) == mask)
            else:
                stmt = stmt.where(Article.theme_mask.op("&")(mask) != 0)
        if flt.languages:
            stmt = stmt.where(Article.language.in_(flt.languages))
        if flt.sources and scan and self.dialect == "sqlite":
            # The outlets' articles collected once and each article of the ranges
            # checked against them (by an expression of its id, as a search is): a
            # look-up of article_source per article cost a year's split by language
            # ~4 times as much (1M articles, one outlet).
            carried = select(ArticleSource.article_id).where(ArticleSource.feed_id.in_(flt.sources))
            stmt = stmt.where(UNINDEXED_ID.in_(carried))
        elif flt.sources:
            stmt = stmt.where(
                exists().where(
                    ArticleSource.article_id == Article.id, ArticleSource.feed_id.in_(flt.sources)
                )
            )
        if flt.since:
            stmt = stmt.where(Article.published_at >= flt.since)
        if flt.until:
            stmt = stmt.where(Article.published_at < flt.until)
        if flt.updated_since:
            stmt = stmt.where(Article.updated_at >= flt.updated_since)
        if flt.flagged:
            cond = [Flag.article_id == Article.id, Flag.resolved_at.is_(None)]
            if flt.flagged != "any":
                cond.append(Flag.kind == flt.flagged)
            stmt = stmt.where(exists().where(*cond))
        if flt.q:
            query = parse_query(flt.q)
            if scan and self.dialect == "sqlite":
                stmt = stmt.where(self._search_in_ranges(query))
            else:
                stmt = stmt.where(search_clause(query, self.dialect))
        return stmt

    def _search_in_ranges(self, query: SearchQuery) -> ColumnElement[bool]:
        """A search as the volume chart's statements check it on SQLite, where they read
        the articles of each day (or week) and theme from the volume index.

        The cheaper of two checks per article: a lookup in the full-text index's
        matches when there are few of them (``RARE_MATCHES``); else the terms tested on
        the article's folded document, which costs the same whatever the term, a
        little per article of the chart's range. Building a common term's matches
        costs more than the whole range (1M articles, a term in most of them: ~0.7 s
        against ~0.1 s for the default 30 days).
        """
        doc_cond = doc_clause(query, search_doc.c.doc, "sqlite")
        expression = match_expression(query)
        if doc_cond is None or (
            expression is not None and fewer_matches_than(self.session, expression, RARE_MATCHES)
        ):
            return search_clause(query, "sqlite", scan=True)
        return exists().where(search_doc.c.id == Article.id, doc_cond)

    def volume(
        self, flt: TimelineFilter, interval: str, *, start: date, end: date
    ) -> list[VolumeBucket]:
        """Articles per day or week between ``start`` and ``end`` (inclusive dates),
        counted per theme, for every filter but the cursor and the date range.

        One count per (day, theme mask) cell, each a range of the index on
        ``(theme_mask, relevant, published_at, language)``: every article is visited
        once, in index order, and nothing is sorted or hashed (grouping by a day
        computed from the timestamp made both engines sort the whole range).
        """
        grid = self._day_grid(start, end)
        masks = _mask_grid()
        ranged = replace(flt, cursor=None, since=None, until=None)
        counted = self._filtered(select(func.count()).select_from(Article), ranged, scan=True)
        if flt.relevance != "relevant":  # both values, so the index can still seek on time
            counted = counted.where(Article.relevant.in_([True, False]))
        count = counted.where(
            Article.theme_mask == masks.c.mask,
            Article.published_at >= grid.c.day_start,
            Article.published_at < grid.c.day_end,
        ).scalar_subquery()
        stmt = select(grid.c.day, masks.c.mask, count).select_from(grid.join(masks, true()))
        rows = [(d, int(m), int(n)) for d, m, n in self.session.execute(stmt) if n]
        return bucket_volume(rows, interval, start, end)

    def volume_groups(
        self, flt: TimelineFilter, interval: str, group: str, *, start: date, end: date
    ) -> tuple[tuple[str, ...], list[VolumeBucket]]:
        """Share of voice: articles per day or week split by outlet (``source``: the
        feed listed first on the article's card, the one that carried it first) or by
        language (``lang``), each article in one group; the largest groups and "other".

        Each article is read once, from an index: the language and the outlet
        (``primary_feed_id``, the first ``article_source`` row by (first_seen_at,
        feed_id), as the card lists them) are in it. PostgreSQL reads one range of
        ``ix_article_timeline_cover`` per bucket and hash-aggregates them per bucket;
        SQLite reads one range of ``ix_article_volume`` per bucket and theme mask and
        groups each bucket in a subquery (``_volume_groups_sqlite``).
        """
        if group == "lang":
            key: Any = Article.language
        elif group == "source":
            key = Article.primary_feed_id  # kept by triggers on article_source (0009)
        else:
            raise ValueError(f"unknown group {group!r}")
        ranged = replace(flt, cursor=None, since=None, until=None)
        if self.dialect == "sqlite":
            return self._volume_groups_sqlite(ranged, key, interval, start, end)
        # Buckets (days, or weeks cut to the range), each one index range of articles,
        # grouped per bucket: grouped per day, a year by outlet came back as ~70k rows for
        # Python to sum into weeks (~190 ms at 1M articles), and the day's text was
        # computed for every article before the hash.
        spans = _bucket_spans(interval, start, end)
        grid = (
            values(
                column("low", String),
                column("since", DateTime(timezone=True)),
                column("until", DateTime(timezone=True)),
                name="volume_bucket",
            )
            .data([(a.isoformat(), _utc_midnight(a), _utc_midnight(b)) for a, b in spans])
            .cte("volume_bucket")
        )
        # One range of the timeline's cover index per bucket: it leads with relevance and
        # time and carries the language and, on PostgreSQL, the outlet (migration 0013).
        # Through ix_article_volume, which leads with the theme mask, each bucket was one
        # range per mask, joined to the list of masks (every article matches one): a year
        # at 1M articles by language 184 -> 137 ms, by outlet 230 -> 143 ms.
        cells = select(grid.c.low.label("day"), key.label("k")).select_from(
            grid.join(Article.__table__, true())
        )
        cells = self._filtered(cells, ranged).where(
            Article.published_at >= grid.c.since,
            Article.published_at < grid.c.until,
        )
        if flt.relevance != "relevant":  # both values, so the index can still seek on time
            cells = cells.where(Article.relevant.in_([True, False]))
        inner = cells.subquery("volume_cells")
        stmt = select(inner.c.day, inner.c.k, func.count()).group_by(inner.c.day, inner.c.k)
        rows = [
            (d, None if k is None else str(k), int(n)) for d, k, n in self.session.execute(stmt)
        ]
        return group_volume(rows, interval, start, end)

    def _volume_groups_sqlite(
        self,
        ranged: TimelineFilter,
        key: Any,
        interval: str,
        start: date,
        end: date,
    ) -> tuple[tuple[str, ...], list[VolumeBucket]]:
        """Share of voice on SQLite: per bucket of the chart (a day, or the part of a
        week inside the range), one correlated subquery counts that bucket's articles
        per group and hands them back as one JSON array.

        SQLite groups with a sorter. Grouping a year's articles by (day, group) at once
        sorted every article of the range (~400k at 1M articles: ~0.4 s); a bucket's
        own articles sort in a few milliseconds, and by week a year of outlets comes
        back as ~10k cells instead of ~70k. Each bucket still reads one range of
        ``ix_article_volume`` per theme mask (the index leads with the mask), as
        ``volume`` does.
        """
        spans = [(a.isoformat(), b.isoformat()) for a, b in _bucket_spans(interval, start, end)]
        entry = func.json_each(json.dumps(spans)).table_valued("value")
        grid = select(
            func.json_extract(entry.c.value, "$[0]").label("low"),  # the bucket's first day
            func.json_extract(entry.c.value, "$[1]").label("high"),
        ).cte("volume_bucket")
        counted = self._filtered(
            select(key.label("k"), func.count().label("n")).select_from(Article),
            ranged,
            scan=True,
        ).where(
            # naive UTC text: 'YYYY-MM-DD' sorts just before that day's timestamps
            Article.theme_mask.in_(range(1 << len(THEME_BITS))),
            Article.published_at >= grid.c.low,
            Article.published_at < grid.c.high,
        )
        if ranged.relevance != "relevant":  # both values, so the index still seeks on time
            counted = counted.where(Article.relevant.in_([True, False]))
        per_group = counted.group_by(key).correlate(grid).subquery("volume_group")
        cells = (
            select(func.json_group_array(func.json_array(per_group.c.k, per_group.c.n)))
            .select_from(per_group)
            .scalar_subquery()
        )
        rows = [
            (bucket, None if k is None else str(k), int(n))
            for bucket, found in self.session.execute(select(grid.c.low, cells))
            if found
            for k, n in json.loads(found)
        ]
        return group_volume(rows, interval, start, end)

    def _day_grid(self, start: date, end: date) -> Any:
        """``(day, day_start, day_end)`` for every day from ``start`` to ``end``, made by
        the database from two parameters (a VALUES list cost more to build than to run)."""
        seq = select(literal(0, Integer).label("n")).cte("volume_seq", recursive=True)
        seq = seq.union_all(select((seq.c.n + 1).label("n")).where(seq.c.n < (end - start).days))
        if self.dialect == "postgresql":
            first = literal(start, Date)
            day: Any = first + seq.c.n
            day_start: Any = func.timezone("UTC", cast(day, DateTime()))
            day_end: Any = func.timezone("UTC", cast(day + 1, DateTime()))
        else:  # naive UTC text: 'YYYY-MM-DD' sorts just before that day's timestamps
            first = literal(start.isoformat(), String)
            day = func.date(first, "+" + cast(seq.c.n, String) + " days", type_=String)
            day_start = day
            day_end = func.date(first, "+" + cast(seq.c.n + 1, String) + " days", type_=String)
        return select(
            cast(day, String).label("day"), day_start.label("day_start"), day_end.label("day_end")
        ).cte("volume_day")

    def detail(self, article_id: int) -> ArticleDetail:
        text, evidence = self.session.execute(
            select(Article.text, Article.relevance_evidence).where(Article.id == article_id)
        ).one()
        flags = self.session.execute(
            select(Flag.kind, Flag.note, Flag.created_at, Flag.resolved_at, User.name)
            .outerjoin(User, User.id == Flag.user_id)
            .where(Flag.article_id == article_id)
            .order_by(Flag.created_at.desc(), Flag.id.desc())
        )
        return ArticleDetail(
            text=text,
            relevance_evidence=tuple(
                (e["term"], e["field"], e["start"], e["end"]) for e in evidence or []
            ),
            flags=tuple(FlagEntry(*row) for row in flags),
        )

    def outlets(self) -> list[Source]:
        """Every feed as a choice for the outlet filter (no counts: that costs a scan)."""
        rows = self.session.execute(
            select(Feed.id, func.coalesce(Feed.title, Feed.url)).order_by(
                func.lower(func.coalesce(Feed.title, Feed.url))
            )
        )
        return [Source(feed_id, name) for feed_id, name in rows]

    def get(self, article_id: int) -> ArticleValue | None:
        row = self.session.get(Article, article_id)
        return self.to_values([row], with_content=True)[0] if row else None

    def to_values(
        self, rows: Sequence[Article], *, with_content: bool = False
    ) -> list[ArticleValue]:
        ids = [r.id for r in rows]
        sources, copies = self._sources(rows)
        themes = self._themes(ids)
        flags = self._open_flags(ids)
        pages = ExtractionStore(self.session).statuses(ids) if with_content else {}
        return [
            ArticleValue(
                id=r.id,
                url=r.url,
                title=r.title,
                summary=r.summary,
                language=r.language,
                published_at=r.published_at,
                published_estimated=r.published_estimated,
                first_seen_at=r.first_seen_at,
                relevant=r.relevant,
                relevance_score=r.relevance_score,
                relevance_reason=r.relevance_reason,
                sources=tuple(sources.get(r.id, ())),
                themes=tuple(themes.get(r.id, ())),
                cluster_id=r.cluster_id,
                cluster_size=len(sources.get(r.id, ())) or 1,
                content=r.content if with_content else "",
                flags=tuple(flags.get(r.id, ())),
                text_source=r.text_source,
                page_content=r.page_content if with_content else "",
                page=pages.get(r.id),
                author=r.author,
                updated_at=r.updated_at,
                copies=tuple(copies.get(r.id, ())),
            )
            for r in rows
        ]

    def _sources(
        self, rows: Sequence[Article]
    ) -> tuple[dict[int, list[Source]], dict[int, list[StoryCopy]]]:
        """Outlets that carried each article or any article of its story cluster, and
        the other articles of that cluster, newest first. Outlets count by feed and by
        the item's own publisher (a news search's ``<source>``), so two publishers'
        copies found by one aggregator are two sources; a copy from the same outlet is
        a copy, not a source."""
        clusters = {r.cluster_id for r in rows if r.cluster_id is not None}
        member_of: dict[int, list[int]] = {r.id: [r.id] for r in rows}
        copy_rows: dict[int, tuple[str, datetime]] = {}
        if clusters:
            members = self.session.execute(
                select(Article.cluster_id, Article.id, Article.title, Article.published_at)
                .where(Article.cluster_id.in_(clusters))
                .order_by(Article.published_at, Article.id)
            )
            by_cluster: dict[int, list[int]] = {}
            for cluster_id, member, headline, published in members:
                if cluster_id is None:
                    continue
                by_cluster.setdefault(cluster_id, []).append(member)
                copy_rows[member] = (headline, published)
            for r in rows:
                if r.cluster_id is not None:
                    member_of[r.id] = sorted(set(by_cluster.get(r.cluster_id, [])) | {r.id})
        all_ids = {m for ms in member_of.values() for m in ms}
        feeds_of: dict[int, list[Source]] = {}
        if all_ids:
            found = self.session.execute(
                select(ArticleSource.article_id, Feed.id, Feed.title, Feed.url, Article.outlet)
                .join(Feed, Feed.id == ArticleSource.feed_id)
                .join(Article, Article.id == ArticleSource.article_id)
                .where(ArticleSource.article_id.in_(all_ids))
                # The card's order; article.primary_feed_id (migration 0009's triggers,
                # the chart split by outlet) follows it: change both together.
                .order_by(ArticleSource.first_seen_at, Feed.id)
            )
            for article_id, feed_id, title, url, outlet in found:
                # A news search names the publisher per entry: that, not "Google News".
                name = outlet or title or url
                feeds_of.setdefault(article_id, []).append(Source(feed_id, name))
        result: dict[int, list[Source]] = {}
        copies: dict[int, list[StoryCopy]] = {}
        for article_id, members_ in member_of.items():
            seen: dict[Source, Source] = {}
            for member in [article_id, *members_]:
                for src in feeds_of.get(member, []):
                    seen.setdefault(src, src)
            result[article_id] = list(seen.values())
            copies[article_id] = [
                StoryCopy(
                    member,
                    *copy_rows[member],
                    outlet=next((s.name for s in feeds_of.get(member, [])), ""),
                )
                for member in sorted(
                    (m for m in members_ if m != article_id and m in copy_rows),
                    key=lambda m: (copy_rows[m][1], m),
                    reverse=True,  # newest first, as the timeline
                )
            ]
        return result, copies

    def _themes(self, ids: Sequence[int]) -> dict[int, list[ThemeTag]]:
        found: dict[int, list[ThemeTag]] = {}
        if not ids:
            return found
        t = ArticleTheme
        rows = self.session.execute(
            select(t.article_id, t.theme, t.score, cast(t.evidence, Text), t.origin)
            .where(t.article_id.in_(ids))
            .order_by(t.theme)
        )
        for article_id, theme, score, evidence, origin in rows:
            matched = _evidence(evidence)
            found.setdefault(article_id, []).append(ThemeTag(theme, score, matched, origin))
        return found

    def _open_flags(self, ids: Sequence[int]) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {}
        if not ids:
            return found
        rows = self.session.execute(
            select(Flag.article_id, Flag.kind).where(
                Flag.article_id.in_(ids), Flag.resolved_at.is_(None)
            )
        )
        for article_id, kind in rows:
            if kind not in found.setdefault(article_id, []):
                found[article_id].append(kind)
        return found

    def flag_notes(self, ids: Sequence[int]) -> dict[int, list[tuple[str, str]]]:
        """Open flags of these articles as (kind, note), oldest first: for the exports."""
        found: dict[int, list[tuple[str, str]]] = {}
        if ids:
            rows = self.session.execute(
                select(Flag.article_id, Flag.kind, Flag.note)
                .where(Flag.article_id.in_(ids), Flag.resolved_at.is_(None))
                .order_by(Flag.created_at, Flag.id)
            )
            for article_id, kind, note in rows:
                found.setdefault(article_id, []).append((kind, note))
        return found

    def iter_for_retag(
        self, *, after_id: int, limit: int
    ) -> list[tuple[int, str, str, str, str | None]]:
        rows = self.session.execute(
            select(Article.id, Article.title, Article.summary, Article.text, Article.language)
            .where(Article.id > after_id)
            .order_by(Article.id)
            .limit(limit)
        )
        return list(rows)

    def count(self, *, relevant_only: bool = False) -> int:
        stmt = select(func.count()).select_from(Article)
        if relevant_only:
            stmt = stmt.where(Article.relevant.is_(True))
        return self.session.scalar(stmt) or 0


def delete_orphans(session: Session, *, now: datetime | None = None) -> int:
    """Delete articles that no feed carries any more (after a feed was removed), each
    leaving a tombstone for the changes feed."""
    orphan = ~exists().where(ArticleSource.article_id == Article.id)
    ids = list(session.scalars(select(Article.id).where(orphan)))
    deleted = 0
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        # Still orphaned when deleted (another poller may have carried one meanwhile).
        stmt = delete(Article).where(Article.id.in_(chunk), orphan).returning(Article.id)
        gone = list(session.scalars(stmt))
        bury_articles(session, gone, now or datetime.now(UTC))
        deleted += len(gone)
    return deleted
