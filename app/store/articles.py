"""ArticleStore: atomic, idempotent ingest and the timeline queries.

Ingest is one statement family per batch: ``INSERT … ON CONFLICT DO NOTHING``
keyed by the article's hash (never check-then-insert), so pollers may run at once.
Batches arrive deduplicated (``core.identity.dedupe_batch``). The caller owns the
session and commits; this module makes no decisions about what to store.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Date,
    DateTime,
    Integer,
    Select,
    String,
    bindparam,
    cast,
    column,
    delete,
    exists,
    func,
    literal,
    select,
    text,
    true,
    tuple_,
    update,
    values,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.core.decide import ArticleDraft, Tags
from app.core.fingerprint import is_same_story, story_terms
from app.core.timeline import (
    THEME_BITS,
    ArticleDetail,
    FlagEntry,
    TimelineFilter,
    VolumeBucket,
    bucket_volume,
)
from app.core.types import Article as ArticleValue
from app.core.types import Evidence, Page, Source, ThemeTag
from app.store.search import doc_clause, parse_query, search_clause, search_doc
from app.store.tables import (
    Article,
    ArticleSource,
    ArticleTheme,
    Feed,
    Flag,
    ThemeOverride,
    User,
    UTCDateTime,
)

log = logging.getLogger(__name__)
CHUNK = 200
CLUSTER_WINDOW = timedelta(days=7)
MAX_CANDIDATES = 12
# A search first checks the newest SEARCH_WINDOW rows of the filtered timeline one by
# one; only when fewer than a page of them match does it ask the full-text index for
# every match (cheap then: the terms are rare).
SEARCH_WINDOW = 2000
BANDS = (Article.band0, Article.band1, Article.band2, Article.band3)
# Per wanted band value, the newest rows in the window: a walk down the (band,
# published_at) index that stops early, because a common value (boilerplate, a
# wire template) can match thousands of rows.
_BAND_CANDIDATES = {
    "sqlite": (
        "SELECT b.id FROM json_each(:v{n}) AS w JOIN article AS b ON b.id IN ("
        "SELECT c.id FROM article AS c WHERE c.{column} = w.value"
        " AND c.published_at BETWEEN :low AND :high ORDER BY c.published_at DESC LIMIT :cap)"
    ),
    "postgresql": (
        "SELECT c.id FROM unnest(CAST(:v{n} AS INTEGER[])) AS w(value) CROSS JOIN LATERAL ("
        "SELECT a.id FROM article AS a WHERE a.{column} = w.value"
        " AND a.published_at BETWEEN :low AND :high ORDER BY a.published_at DESC LIMIT :cap) AS c"
    ),
}


@dataclass(slots=True)
class UpsertResult:
    new_ids: list[int] = field(default_factory=list)
    updated_ids: list[int] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # reasons for poison entries

    @property
    def new(self) -> int:
        return len(self.new_ids)

    @property
    def updated(self) -> int:
        return len(self.updated_ids)


def transient_error(exc: BaseException) -> bool:
    """A deadlock, a serialisation failure or a busy database: retry the transaction,
    never blame (and skip) an entry for it."""
    from app.core.errors import StorageBusy

    if isinstance(exc, StorageBusy):
        return True
    orig = getattr(exc, "orig", None)
    if getattr(orig, "sqlstate", None) in {"40001", "40P01", "55P03"}:
        return True
    text = str(orig or exc)
    return "database is locked" in text or "database is busy" in text


def _insert(session: Session) -> Any:
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


class ArticleStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- ingest ---------------------------------------------------------------

    def upsert_batch(
        self, feed_id: int, drafts: Sequence[ArticleDraft], *, now: datetime
    ) -> UpsertResult:
        """Store a feed's (deduplicated) drafts; the same batch twice changes nothing."""
        result = UpsertResult()
        # One draft per key (the last wins): a repeated key would count as new twice.
        drafts = list({d.key: d for d in drafts}.values())
        for start in range(0, len(drafts), CHUNK):
            chunk = drafts[start : start + CHUNK]
            try:
                with self.session.begin_nested():
                    self._upsert_chunk(feed_id, chunk, now, result)
            except DBAPIError as exc:
                if transient_error(exc):
                    raise
                log.warning(
                    "batch for feed %s failed (%s); retrying entry by entry", feed_id, exc.orig
                )
                for draft in chunk:
                    self._upsert_one(feed_id, draft, now, result)
        return result

    def _upsert_one(
        self, feed_id: int, draft: ArticleDraft, now: datetime, result: UpsertResult
    ) -> None:
        try:
            with self.session.begin_nested():
                self._upsert_chunk(feed_id, [draft], now, result)
        except DBAPIError as exc:
            if transient_error(exc):
                raise
            reason = f"entry {draft.url or draft.guid or draft.title[:60]!r} skipped: {exc.orig}"
            log.warning("feed %s: %s", feed_id, reason)
            result.skipped.append(reason[:500])

    def _upsert_chunk(
        self, feed_id: int, drafts: Sequence[ArticleDraft], now: datetime, result: UpsertResult
    ) -> None:
        by_key = {d.key: d for d in drafts}
        existing = self._existing(by_key)
        fresh = [d for d in drafts if d.key not in existing]
        inserted = self._insert_new(fresh, now)
        # Lost a race with another poller: those rows exist now, treat them as existing.
        raced = [d.key for d in fresh if d.key not in inserted]
        if raced:
            existing.update(self._existing({k: by_key[k] for k in raced}))
        changed = [
            (existing[d.key][0], d)
            for d in drafts
            if d.key in existing and existing[d.key][1:] != (d.title, d.summary, d.content)
        ]
        for article_id, draft in changed:
            self.session.execute(
                update(Article)
                .where(Article.id == article_id)
                .values(
                    title=draft.title,
                    summary=draft.summary,
                    content=draft.content,
                    text=draft.text,
                    author=draft.author,
                    updated_at=now,
                )
            )
        all_ids = [inserted.get(d.key) or existing[d.key][0] for d in drafts]
        self._add_sources(feed_id, all_ids, now)
        # New rows were inserted with their tags (no override can exist yet); only
        # their theme rows remain. Changed rows are re-tagged, overrides still winning.
        self._insert_themes(
            [
                _theme_row(inserted[d.key], t, d.tags.version)
                for d in fresh
                if d.key in inserted
                for t in d.tags.themes
            ]
        )
        self.apply_tags({article_id: d.tags for article_id, d in changed}, now=now)
        new_ids = [inserted[d.key] for d in fresh if d.key in inserted]
        self._cluster(new_ids, [d for d in fresh if d.key in inserted])
        result.new_ids.extend(new_ids)
        result.updated_ids.extend(article_id for article_id, _ in changed)

    def _existing(self, by_key: dict[str, ArticleDraft]) -> dict[str, tuple[Any, ...]]:
        rows = self.session.execute(
            select(
                Article.url_hash, Article.id, Article.title, Article.summary, Article.content
            ).where(Article.url_hash.in_(list(by_key)))
        )
        return {row[0]: tuple(row[1:]) for row in rows}

    def _insert_new(self, drafts: Sequence[ArticleDraft], now: datetime) -> dict[str, int]:
        if not drafts:
            return {}
        # Sorted by key, so concurrent pollers take the unique-index locks in one order
        # and cannot deadlock on each other's rows.
        values = [_row(d, now) for d in sorted(drafts, key=lambda d: d.key)]
        # Core executemany (SQLAlchemy's "insertmanyvalues" batches it with RETURNING):
        # one cached statement, where a multi-row VALUES would be compiled per chunk.
        table = Article.__table__
        stmt = (
            _insert(self.session)(table)
            .on_conflict_do_nothing(index_elements=["url_hash"])
            .returning(table.c.url_hash, table.c.id)
        )
        return {key: ident for key, ident in self.session.execute(stmt, values)}

    def _add_sources(self, feed_id: int, article_ids: Sequence[int], now: datetime) -> None:
        rows = [{"article_id": a, "feed_id": feed_id, "first_seen_at": now} for a in article_ids]
        if rows:
            stmt = _insert(self.session)(ArticleSource.__table__).on_conflict_do_nothing()
            self.session.execute(stmt, rows)

    # -- tags -----------------------------------------------------------------

    def apply_tags(self, tags_by_id: dict[int, Tags], *, now: datetime) -> None:
        """Replace the tagger's themes and relevance; editors' overrides still win."""
        if not tags_by_id:
            return
        ids = list(tags_by_id)
        overrides = self._theme_overrides(ids)
        current = {
            row[0]: row[1:]
            for row in self.session.execute(
                select(Article.id, Article.relevant_override, Article.language).where(
                    Article.id.in_(ids)
                )
            )
        }
        self.session.execute(
            delete(ArticleTheme).where(
                ArticleTheme.article_id.in_(ids), ArticleTheme.origin == "tagger"
            )
        )
        theme_rows: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for article_id, tags in tags_by_id.items():
            if article_id not in current:
                continue
            override, language = current[article_id]
            decided = overrides.get(article_id, {})
            keys = {t.key for t in tags.themes if decided.get(t.key, True)}
            keys |= {k for k, present in decided.items() if present}
            theme_rows.extend(
                _theme_row(article_id, t, tags.version) for t in tags.themes if t.key not in decided
            )
            updates.append(
                {
                    "id": article_id,
                    "language": tags.language or language,
                    "tagger_relevant": tags.relevant,
                    "relevant": tags.relevant if override is None else override,
                    "relevance_score": tags.relevance_score,
                    "relevance_reason": tags.relevance_reason,
                    "relevance_evidence": [_evidence_json(e) for e in tags.relevance_evidence],
                    "theme_scores": dict(tags.theme_scores),
                    "theme_mask": sum(THEME_BITS[k] for k in keys if k in THEME_BITS),
                    "tag_version": tags.version,
                }
            )
        if updates:
            # One cached Core UPDATE run as executemany (cheaper than the ORM's bulk path).
            table = Article.__table__
            stmt = (
                update(Article.__table__)  # type: ignore[arg-type]
                .where(table.c.id == bindparam("b_id"))
                .values({key: bindparam(f"b_{key}") for key in updates[0] if key != "id"})
            )
            self.session.execute(stmt, [{f"b_{k}": v for k, v in u.items()} for u in updates])
        self._insert_themes(theme_rows)

    def _insert_themes(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            stmt = _insert(self.session)(ArticleTheme.__table__).on_conflict_do_nothing()
            self.session.execute(stmt, rows)

    def _theme_overrides(self, ids: Sequence[int]) -> dict[int, dict[str, bool]]:
        found: dict[int, dict[str, bool]] = {}
        rows = self.session.execute(
            select(ThemeOverride.article_id, ThemeOverride.theme, ThemeOverride.present).where(
                ThemeOverride.article_id.in_(ids)
            )
        )
        for article_id, theme, present in rows:
            found.setdefault(article_id, {})[theme] = present
        return found

    # -- story clusters -------------------------------------------------------

    def _cluster(self, new_ids: Sequence[int], drafts: Sequence[ArticleDraft]) -> None:
        """Join each new article to the story of its first near-duplicate, if any.

        Per article, the first ``MAX_CANDIDATES`` older articles by id that share a
        band and fall inside its window are compared on their story terms. The
        query asks only for those: per band value the first ``MAX_CANDIDATES + 1``
        rows by id (a window function), because a common band value (boilerplate,
        a wire service's template) can match thousands of rows; texts are then
        read for the candidates actually compared, not for every band match.
        """
        todo = [(a, d) for a, d in zip(new_ids, drafts, strict=True) if d.bands]
        if not todo:
            return
        stamps = [d.published_at for _, d in todo]
        rows = self._band_candidates(
            [{d.bands[k] for _, d in todo if len(d.bands) > k} for k in range(len(BANDS))],
            min(stamps) - CLUSTER_WINDOW,
            max(stamps) + CLUSTER_WINDOW,
        )
        cluster_of = {row[0]: row[1] for row in rows}
        plans = [(a, d, self._candidates_of(a, d, rows)) for a, d in todo]
        wanted_text = {other for _, _, candidates in plans for other in candidates}
        terms_of = {
            article_id: story_terms(text)
            for article_id, text in self.session.execute(
                select(Article.id, Article.text).where(Article.id.in_(wanted_text))
            )
        }
        assigned: dict[int, int] = {}
        for article_id, draft, candidates in plans:
            terms = story_terms(draft.text)
            other_id = next(
                (o for o in candidates if is_same_story(terms, terms_of.get(o, frozenset()))),
                None,
            )
            if other_id is None:
                continue
            cluster = cluster_of.get(other_id) or other_id
            if cluster_of.get(other_id) is None:
                cluster_of[other_id] = assigned[other_id] = cluster
            cluster_of[article_id] = assigned[article_id] = cluster
        if assigned:
            # One cached UPDATE run as executemany, not two statements per article.
            table = Article.__table__
            self.session.execute(
                update(table)  # type: ignore[arg-type]
                .where(table.c.id == bindparam("b_id"))
                .values(cluster_id=bindparam("b_cluster")),
                [{"b_id": a, "b_cluster": c} for a, c in assigned.items()],
            )

    def _band_candidates(
        self, wanted: Sequence[set[int]], low: datetime, high: datetime
    ) -> list[Any]:
        """(id, cluster_id, published_at, band0..3) of the newest ``MAX_CANDIDATES + 1``
        rows published in the window for each wanted band value."""
        dialect = self.session.get_bind().dialect.name
        arms = [
            _BAND_CANDIDATES[dialect].format(column=column.key, n=n)
            for n, (column, values_) in enumerate(zip(BANDS, wanted, strict=True))
            if values_
        ]
        params: dict[str, Any] = {"low": low, "high": high, "cap": MAX_CANDIDATES + 1}
        for n, values_ in enumerate(wanted):
            if values_:
                params[f"v{n}"] = (
                    json.dumps(sorted(values_)) if dialect == "sqlite" else sorted(values_)
                )
        ids = (
            text(" UNION ".join(arms))
            .bindparams(
                bindparam("low", type_=UTCDateTime()), bindparam("high", type_=UTCDateTime())
            )
            .columns(id=Integer)
        )
        return list(
            self.session.execute(
                select(Article.id, Article.cluster_id, Article.published_at, *BANDS)
                .where(Article.id.in_(ids))
                .order_by(Article.id),
                params,
            )
        )

    @staticmethod
    def _candidates_of(article_id: int, draft: ArticleDraft, rows: Sequence[Any]) -> list[int]:
        low, high = draft.published_at - CLUSTER_WINDOW, draft.published_at + CLUSTER_WINDOW
        found: list[int] = []
        for other_id, _, published, *bands in rows:
            if other_id == article_id:
                continue
            if not any(
                b is not None and b == mine for b, mine in zip(bands, draft.bands, strict=False)
            ):
                continue
            if low <= published <= high:
                found.append(other_id)
                if len(found) >= MAX_CANDIDATES:
                    break
        return found

    # -- reading --------------------------------------------------------------

    def timeline(self, flt: TimelineFilter) -> Page[ArticleValue]:
        rows = self._search_window(flt) if flt.q else None
        if rows is None:
            stmt = self._keyset(self._filtered(select(Article), flt), flt)
            rows = list(self.session.scalars(stmt.limit(flt.limit + 1)))
        more = len(rows) > flt.limit
        rows = rows[: flt.limit]
        items = self.to_values(rows)
        next_cursor = None
        if more and rows:
            from app.core.timeline import Cursor

            next_cursor = Cursor(rows[-1].published_at, rows[-1].id).encode()
        return Page(items=tuple(items), next_cursor=next_cursor)

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
        dialect = self.session.get_bind().dialect.name
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
        found = {a.id: a for a in self.session.scalars(select(Article).where(Article.id.in_(ids)))}
        return [found[i] for i in ids if i in found]

    def _filtered(self, stmt: Select[Any], flt: TimelineFilter) -> Select[Any]:
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
        if flt.sources:
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
            dialect = self.session.get_bind().dialect.name
            stmt = stmt.where(search_clause(parse_query(flt.q), dialect))
        return stmt

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
        masks = (
            values(column("mask", Integer), name="volume_mask")
            .data([(m,) for m in range(1 << len(THEME_BITS))])
            .cte("volume_mask")
        )
        ranged = replace(flt, cursor=None, since=None, until=None)
        counted = self._filtered(select(func.count()).select_from(Article), ranged)
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

    def _day_grid(self, start: date, end: date) -> Any:
        """``(day, day_start, day_end)`` for every day from ``start`` to ``end``, made by
        the database from two parameters (a VALUES list cost more to build than to run)."""
        seq = select(literal(0, Integer).label("n")).cte("volume_seq", recursive=True)
        seq = seq.union_all(select((seq.c.n + 1).label("n")).where(seq.c.n < (end - start).days))
        if self.session.get_bind().dialect.name == "postgresql":
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
        sources = self._sources(rows)
        themes = self._themes(ids)
        flags = self._open_flags(ids)
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
            )
            for r in rows
        ]

    def _sources(self, rows: Sequence[Article]) -> dict[int, list[Source]]:
        """Feeds that carried each article, or any article of its story cluster."""
        clusters = {r.cluster_id for r in rows if r.cluster_id is not None}
        member_of: dict[int, list[int]] = {r.id: [r.id] for r in rows}
        if clusters:
            members = self.session.execute(
                select(Article.cluster_id, Article.id).where(Article.cluster_id.in_(clusters))
            )
            by_cluster: dict[int, list[int]] = {}
            for cluster_id, member in members:
                if cluster_id is None:
                    continue
                by_cluster.setdefault(cluster_id, []).append(member)
            for r in rows:
                if r.cluster_id is not None:
                    member_of[r.id] = sorted(set(by_cluster.get(r.cluster_id, [])) | {r.id})
        all_ids = {m for ms in member_of.values() for m in ms}
        feeds_of: dict[int, list[Source]] = {}
        if all_ids:
            found = self.session.execute(
                select(ArticleSource.article_id, Feed.id, Feed.title, Feed.url)
                .join(Feed, Feed.id == ArticleSource.feed_id)
                .where(ArticleSource.article_id.in_(all_ids))
                .order_by(ArticleSource.first_seen_at, Feed.id)
            )
            for article_id, feed_id, title, url in found:
                feeds_of.setdefault(article_id, []).append(Source(feed_id, title or url))
        result: dict[int, list[Source]] = {}
        for article_id, members_ in member_of.items():
            seen: dict[int, Source] = {}
            for member in [article_id, *members_]:
                for src in feeds_of.get(member, []):
                    seen.setdefault(src.feed_id, src)
            result[article_id] = list(seen.values())
        return result

    def _themes(self, ids: Sequence[int]) -> dict[int, list[ThemeTag]]:
        found: dict[int, list[ThemeTag]] = {}
        if not ids:
            return found
        rows = self.session.scalars(
            select(ArticleTheme)
            .where(ArticleTheme.article_id.in_(ids))
            .order_by(ArticleTheme.theme)
        )
        for t in rows:
            evidence = tuple(Evidence(**e) for e in t.evidence or [])
            found.setdefault(t.article_id, []).append(
                ThemeTag(t.theme, t.score, evidence, t.origin)
            )
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


def delete_orphans(session: Session) -> int:
    """Delete articles that no feed carries any more (after a feed was removed)."""
    orphan = ~exists().where(ArticleSource.article_id == Article.id)
    result = session.execute(delete(Article).where(orphan))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _row(d: ArticleDraft, now: datetime) -> dict[str, Any]:
    bands: Iterable[int | None] = d.bands or (None, None, None, None)
    b0, b1, b2, b3 = bands
    tags = d.tags
    return {
        "url": d.url,
        "url_hash": d.key,
        "key_kind": d.key_kind,
        "guid": d.guid,
        "title": d.title,
        "author": d.author,
        "summary": d.summary,
        "content": d.content,
        "text": d.text,
        "language": tags.language or d.language,
        "published_at": d.published_at,
        "published_estimated": d.published_estimated,
        "first_seen_at": now,
        "updated_at": now,
        "relevance_score": tags.relevance_score,
        "relevance_reason": tags.relevance_reason,
        "relevance_evidence": [_evidence_json(e) for e in tags.relevance_evidence],
        "tagger_relevant": tags.relevant,
        "relevant": tags.relevant,
        "theme_mask": sum(THEME_BITS.get(t.key, 0) for t in tags.themes),
        "theme_scores": dict(tags.theme_scores),
        "tag_version": tags.version,
        "band0": b0,
        "band1": b1,
        "band2": b2,
        "band3": b3,
    }


def _theme_row(article_id: int, tag: ThemeTag, version: str) -> dict[str, Any]:
    return {
        "article_id": article_id,
        "theme": tag.key,
        "score": tag.score,
        "evidence": [_evidence_json(e) for e in tag.evidence],
        "origin": "tagger",
        "tag_version": version,
    }


def _evidence_json(e: Evidence) -> dict[str, Any]:
    return {"term": e.term, "field": e.field, "start": e.start, "end": e.end}
