"""Article writes: atomic, idempotent ingest, tags and story clusters.

Ingest is one statement family per batch: ``INSERT … ON CONFLICT DO NOTHING``
keyed by the article's hash (never check-then-insert), so pollers may run at once.
Batches arrive deduplicated (``core.identity.dedupe_batch``). The caller owns the
session and commits; this module makes no decisions about what to store.
``ArticleStore`` (``store.articles``) is these writes plus the timeline's reads.
"""

from __future__ import annotations

import json
import logging
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache, partial
from typing import Any, cast

from sqlalchemy import (
    Table,
    bindparam,
    delete,
    select,
    text,
    update,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from app.core.decide import ArticleDraft, StoredForm, Tags
from app.core.fingerprint import TITLE_AGREEMENT, jaccard, same_story, shingles, title_terms
from app.core.timeline import THEME_BITS
from app.core.types import ThemeTag
from app.store.db import RUN_AGAIN_ALONE, insert_for, run_on_driver
from app.store.search import fold_doc
from app.store.sqlite_file import marks, sqlite_stamp
from app.store.stored import CLUSTER_WINDOW, dumps, evidence_json, stored_form
from app.store.tables import (
    Article,
    ArticleSource,
    ArticleTheme,
    ThemeOverride,
    UTCDateTime,
)
from app.store.touch import touch_articles, touch_clusters

log = logging.getLogger(__name__)
CHUNK = 200
MAX_CANDIDATES = 12  # tried per new article
PER_KEY = 4  # newest rows looked up per story key (four keys per article)
BANDS = (Article.band0, Article.band1, Article.band2, Article.band3)
# Per wanted band value, the newest rows in the window: a walk down the (band,
# published_at) index that stops early, because a common value (boilerplate, a
# wire template) can match thousands of rows.
_BAND_CANDIDATES = {
    # Per wanted value (its position in the JSON array is ``w.key``): the newest rows with
    # that key published in the window, as "id,published;…" newest first, read from the
    # (band, published_at) index alone, without touching the table's rows.
    "sqlite": (
        "SELECT {n}, w.key, (SELECT group_concat(x, ';') FROM ("
        "SELECT c.id || ',' || c.published_at AS x FROM article AS c WHERE c.{column} = w.value"
        " AND c.published_at BETWEEN :low AND :high ORDER BY c.published_at DESC, c.id DESC"
        " LIMIT :cap)) FROM json_each(:v{n}) AS w"
    ),
    "postgresql": (
        "SELECT {n} AS band, w.i, c.id, c.published_at, c.cluster_id, c.title"
        " FROM unnest(CAST(:v{n} AS INTEGER[])) WITH ORDINALITY AS w(value, i)"
        " CROSS JOIN LATERAL (SELECT a.id, a.published_at, a.cluster_id, a.title"
        " FROM article AS a WHERE a.{column} = w.value"
        " AND a.published_at BETWEEN :low AND :high"
        " ORDER BY a.published_at DESC, a.id DESC LIMIT :cap) AS c"
    ),
}

_ARTICLE = cast(Table, Article.__table__)
_UPDATE_TEXT = (
    update(_ARTICLE)
    .where(_ARTICLE.c.id == bindparam("b_id"))
    .values(
        title=bindparam("b_title"),
        summary=bindparam("b_summary"),
        content=bindparam("b_content"),
        text=bindparam("b_text"),
        author=bindparam("b_author"),
        updated_at=bindparam("b_now", type_=UTCDateTime()),
    )
)
# Prepared once: building a statement and its cache key per call cost more than
# running it for the small batches of a poll.
_A = _ARTICLE.c
_EXISTING = select(_A.url_hash, _A.id, _A.title, _A.summary, _A.content, _A.primary_feed_id).where(
    _A.url_hash.in_(bindparam("keys", expanding=True))
)
_BODIES = select(_A.id, _A.text).where(_A.id.in_(bindparam("ids", expanding=True)))
_CURRENT = select(_A.id, _A.relevant_override, _A.language).where(
    _A.id.in_(bindparam("ids", expanding=True))
)
_THEME = cast(Table, ArticleTheme.__table__)
_OVERRIDE = cast(Table, ThemeOverride.__table__)
_OVERRIDES = select(_OVERRIDE.c.article_id, _OVERRIDE.c.theme, _OVERRIDE.c.present).where(
    _OVERRIDE.c.article_id.in_(bindparam("ids", expanding=True))
)
_FORGET_THEMES = delete(_THEME).where(
    _THEME.c.article_id.in_(bindparam("ids", expanding=True)), _THEME.c.origin == "tagger"
)
_TAG_COLUMNS = (
    "language",
    "tagger_relevant",
    "relevant",
    "relevance_score",
    "relevance_reason",
    "relevance_evidence",
    "theme_scores",
    "theme_mask",
    "tag_version",
)
_UPDATE_TAGS = (
    update(_ARTICLE)
    .where(_A.id == bindparam("b_id"))
    .values({key: bindparam(f"b_{key}") for key in _TAG_COLUMNS})
)
_UPDATE_CLUSTER = (
    update(_ARTICLE).where(_A.id == bindparam("b_id")).values(cluster_id=bindparam("b_cluster"))
)


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


@lru_cache(maxsize=8)
def _statements(dialect: str) -> dict[str, Any]:
    """The dialect's upserts, built once."""
    insert = insert_for(dialect)
    sources = cast(Table, ArticleSource.__table__)
    return {
        # Core executemany (SQLAlchemy's "insertmanyvalues" batches it with RETURNING):
        # one cached statement, where a multi-row VALUES would be compiled per chunk.
        "article": insert(_ARTICLE)
        .on_conflict_do_nothing(index_elements=["url_hash"])
        .returning(_A.url_hash, _A.id),
        "source": insert(sources).on_conflict_do_nothing().returning(sources.c.article_id),
        "theme": insert(_THEME).on_conflict_do_nothing(),
    }


# A candidate's headline is compared again each time a later copy looks it up; the
# cache keeps the words of the recent ones (~2.5 MB at most).
_title_terms = lru_cache(maxsize=2048)(title_terms)


class ArticleWrites:
    """Ingest, tags and story clusters on one session (the caller commits)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._dialect: str | None = None

    @property
    def dialect(self) -> str:
        if self._dialect is None:
            self._dialect = self.session.get_bind().dialect.name
        return self._dialect

    # -- ingest ---------------------------------------------------------------

    def upsert_batch(
        self,
        feed_id: int,
        drafts: Sequence[ArticleDraft],
        *,
        now: datetime,
        search_later: bool = False,
    ) -> UpsertResult:
        """Store a feed's (deduplicated) drafts; the same batch twice changes nothing.

        ``search_later`` (the poller, on SQLite): the new articles' documents wait in
        ``article_search_pending`` for ``search.index_pending``, which the caller runs every
        few seconds, instead of entering the full-text index in this transaction (migration
        0011). Without it, or on PostgreSQL, they are searchable once this commits."""
        result = UpsertResult()
        # One draft per key (the last wins): a repeated key would count as new twice.
        drafts = list({d.key: d for d in drafts}.values())
        # In a held transaction a failure here has the writer roll the transaction back and
        # run this write again in a transaction of its own, where it takes the path below.
        run_again_alone = self.session.info.get(RUN_AGAIN_ALONE, False)
        for start in range(0, len(drafts), CHUNK):
            chunk = drafts[start : start + CHUNK]
            if run_again_alone:
                self._upsert_chunk(feed_id, chunk, now, result, search_later)
                continue
            try:
                with self.session.begin_nested():
                    self._upsert_chunk(feed_id, chunk, now, result, search_later)
            except DBAPIError as exc:
                if transient_error(exc):
                    raise
                log.warning(
                    "batch for feed %s failed (%s); retrying entry by entry", feed_id, exc.orig
                )
                for draft in chunk:
                    self._upsert_one(feed_id, draft, now, result, search_later)
        return result

    def _upsert_one(
        self,
        feed_id: int,
        draft: ArticleDraft,
        now: datetime,
        result: UpsertResult,
        search_later: bool,
    ) -> None:
        try:
            with self.session.begin_nested():
                self._upsert_chunk(feed_id, [draft], now, result, search_later)
        except DBAPIError as exc:
            if transient_error(exc):
                raise
            reason = f"entry {draft.url or draft.guid or draft.title[:60]!r} skipped: {exc.orig}"
            log.warning("feed %s: %s", feed_id, reason)
            result.skipped.append(reason[:500])

    def _upsert_chunk(
        self,
        feed_id: int,
        drafts: Sequence[ArticleDraft],
        now: datetime,
        result: UpsertResult,
        search_later: bool,
    ) -> None:
        by_key = {d.key: d for d in drafts}
        existing = self._existing(by_key)
        fresh = [d for d in drafts if d.key not in existing]
        inserted = self._insert_new(feed_id, fresh, now, search_later=search_later)
        # Lost a race with another poller: those rows exist now, treat them as existing.
        raced = [d.key for d in fresh if d.key not in inserted]
        if raced:
            existing.update(self._existing({k: by_key[k] for k in raced}))
        changed = [
            (existing[d.key][0], d)
            for d in drafts
            if d.key in existing and _edits(existing[d.key], d, feed_id)
        ]
        if changed:
            # One prepared Core UPDATE run as executemany (the ORM's bulk-update path per
            # row cost the main process ~0.4 ms each).
            self.session.execute(
                _UPDATE_TEXT,
                [
                    {
                        "b_id": article_id,
                        "b_title": d.title,
                        "b_summary": d.summary,
                        "b_content": d.content,
                        "b_text": d.text,
                        "b_author": d.author,
                        "b_now": now,
                    }
                    for article_id, d in changed
                ],
            )
        all_ids = [inserted.get(d.key) or existing[d.key][0] for d in drafts]
        # A second feed carrying a stored article is a visible change (its sources).
        gained = self._add_sources(feed_id, all_ids, now) - set(inserted.values())
        touch_articles(self.session, gained, now)
        # New rows were inserted with their tags (no override can exist yet); only
        # their theme rows remain. Changed rows are re-tagged, overrides still winning.
        born = [(inserted[d.key], d) for d in fresh if d.key in inserted]
        if self.dialect == "sqlite":  # as the drafts' stored form has them
            self._insert_stored_themes(born)
        else:
            self._insert_themes(
                [_theme_row(a, t, d.tags.version) for a, d in born for t in d.tags.themes]
            )
        # (their text update set ``updated_at`` already: no touch needed)
        self._apply_tags({article_id: d.tags for article_id, d in changed}, now, touch=False)
        new_ids = [inserted[d.key] for d in fresh if d.key in inserted]
        joined = self._cluster(new_ids, [d for d in fresh if d.key in inserted])
        touch_clusters(self.session, joined, now)  # each member shows the others' sources
        result.new_ids.extend(new_ids)
        result.updated_ids.extend(article_id for article_id, _ in changed)

    def _existing(self, by_key: dict[str, ArticleDraft]) -> dict[str, tuple[Any, ...]]:
        keys = list(by_key)
        if self.dialect == "sqlite":
            rows: Iterable[Any] = run_on_driver(self.session, _existing_sql(len(keys)), keys)
        else:
            rows = self.session.execute(_EXISTING, {"keys": keys})
        return {row[0]: tuple(row[1:]) for row in rows}

    def _insert_new(
        self,
        feed_id: int,
        drafts: Sequence[ArticleDraft],
        now: datetime,
        *,
        search_later: bool = False,
    ) -> dict[str, int]:
        if not drafts:
            return {}
        # Sorted by key, so concurrent pollers take the unique-index locks in one order
        # and cannot deadlock on each other's rows. This feed is the new rows' first
        # outlet already, so migration 0009's trigger finds nothing to change.
        ordered = sorted(drafts, key=lambda d: d.key)
        if self.dialect == "sqlite":
            return self._insert_new_sqlite(ordered, now, feed_id, search_later)
        # PostgreSQL: a statement trigger indexes the inserted rows for search (0006).
        values = [_row(d, now, feed_id) for d in ordered]
        stmt = _statements(self.dialect)["article"]
        return {key: ident for key, ident in self.session.execute(stmt, values)}

    def _insert_new_sqlite(
        self, drafts: Sequence[ArticleDraft], now: datetime, feed_id: int, search_later: bool
    ) -> dict[str, int]:
        """``_insert_new`` on SQLite through the driver: the same rows, values and
        statements, without SQLAlchemy's per-value bind processing (a third of the
        poller's main-process CPU on the peer corpus went to it). The row trigger is off
        for this batch's insert (a failure undoes the switch with the rest); the batch is
        indexed below in two executemany calls instead of six statements per row
        (migration 0006)."""
        now_stamp = sqlite_stamp(now)
        rows = [_stored_row(d, _stored(d), now_stamp, feed_id) for d in drafts]
        columns = _COLUMNS
        per_insert = _MAX_PARAMETERS // len(columns)
        run = partial(run_on_driver, self.session)
        run("UPDATE article_search_bulk SET active = 1")
        inserted: dict[str, int] = {}
        for start in range(0, len(rows), per_insert):
            part = rows[start : start + per_insert]
            sql = _article_insert_sql(columns, len(part))
            inserted.update(run(sql, [value for row in part for value in row]))
        docs = [
            (inserted[d.key], fold_doc(f"{d.title} {d.text}")) for d in drafts if d.key in inserted
        ]
        if docs:
            run("INSERT INTO article_search(id, doc) VALUES (?, ?)", docs, many=True)
            if search_later:
                pending = [(article_id,) for article_id, _ in docs]
                run("INSERT INTO article_search_pending(id) VALUES (?)", pending, many=True)
            else:
                run("INSERT INTO article_fts(rowid, doc) VALUES (?, ?)", docs, many=True)
        run("UPDATE article_search_bulk SET active = 0")
        return inserted

    def _add_sources(self, feed_id: int, article_ids: Sequence[int], now: datetime) -> set[int]:
        """Link the articles to the feed; returns the ids that gained it as a source."""
        if not article_ids:
            return set()
        if self.dialect == "sqlite":
            seen = sqlite_stamp(now)
            values = [value for a in article_ids for value in (a, feed_id, seen)]
            return {
                row[0]
                for row in run_on_driver(self.session, _sources_sql(len(article_ids)), values)
            }
        rows = [{"article_id": a, "feed_id": feed_id, "first_seen_at": now} for a in article_ids]
        return set(self.session.scalars(_statements(self.dialect)["source"], rows))

    # -- tags -----------------------------------------------------------------

    def apply_tags(self, tags_by_id: dict[int, Tags], *, now: datetime) -> None:
        """Replace the tagger's themes and relevance; editors' overrides still win."""
        self._apply_tags(tags_by_id, now, touch=True)

    def _apply_tags(self, tags_by_id: dict[int, Tags], now: datetime, *, touch: bool) -> None:
        if not tags_by_id:
            return
        ids = list(tags_by_id)
        overrides = self._theme_overrides(ids)
        current = {row[0]: row[1:] for row in self.session.execute(_CURRENT, {"ids": ids})}
        self.session.execute(_FORGET_THEMES, {"ids": ids})
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
                    "b_id": article_id,
                    "b_language": tags.language or language,
                    "b_tagger_relevant": tags.relevant,
                    "b_relevant": tags.relevant if override is None else override,
                    "b_relevance_score": tags.relevance_score,
                    "b_relevance_reason": tags.relevance_reason,
                    "b_relevance_evidence": [evidence_json(e) for e in tags.relevance_evidence],
                    "b_theme_scores": dict(tags.theme_scores),
                    "b_theme_mask": sum(THEME_BITS[k] for k in keys if k in THEME_BITS),
                    "b_tag_version": tags.version,
                }
            )
        if updates:
            # One prepared Core UPDATE run as executemany (cheaper than the ORM's bulk path).
            self.session.execute(_UPDATE_TAGS, updates)
        self._insert_themes(theme_rows)
        if touch:
            touch_articles(self.session, ids, now)

    def _insert_themes(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        if self.dialect == "sqlite":
            values = [
                (
                    r["article_id"],
                    r["theme"],
                    r["score"],
                    dumps(r["evidence"]),
                    r["origin"],
                    r["tag_version"],
                )
                for r in rows
            ]
            run_on_driver(self.session, _THEME_SQL, values, many=True)
            return
        self.session.execute(_statements(self.dialect)["theme"], rows)

    def _insert_stored_themes(self, drafts: list[tuple[int, ArticleDraft]]) -> None:
        """SQLite: the theme rows of new articles, from their drafts' stored form."""
        values = [
            (article_id, theme, score, evidence, "tagger", d.tags.version)
            for article_id, d in drafts
            for theme, score, evidence in _stored(d).themes
        ]
        if values:
            run_on_driver(self.session, _THEME_SQL, values, many=True)

    def _theme_overrides(self, ids: Sequence[int]) -> dict[int, dict[str, bool]]:
        found: dict[int, dict[str, bool]] = {}
        for article_id, theme, present in self.session.execute(_OVERRIDES, {"ids": list(ids)}):
            found.setdefault(article_id, {})[theme] = present
        return found

    # -- story clusters -------------------------------------------------------

    def _cluster(self, new_ids: Sequence[int], drafts: Sequence[ArticleDraft]) -> set[int]:
        """Join each new article to the story of its first copy among its candidates.

        Bounded per article whatever the corpus: one query gives, per wanted story
        key, the newest ``PER_KEY + 1`` rows in the window (an index walk
        that stops early); per article at most ``MAX_CANDIDATES`` of them are
        tried, nearest key first, and the first that ``same_story`` accepts ends
        the search. Headlines are compared first, bodies are read only for the
        candidates whose headline agrees; on SQLite a candidate's row is read only
        once it is tried (the keys' look-up reads the index alone).
        """
        todo = [(a, d) for a, d in zip(new_ids, drafts, strict=True) if d.bands]
        if not todo:
            return set()
        # Each article's publication time and its window's two ends as the look-up returns
        # published_at (text on SQLite, where the fixed-width stamps sort as the times do:
        # the stored form has them), its stored form read once.
        sqlite = self.dialect == "sqlite"

        def span(draft: ArticleDraft) -> tuple[Any, Any, Any]:
            if sqlite:
                stored = _stored(draft)
                return stored.published_at, *stored.window
            published = draft.published_at
            return published, published - CLUSTER_WINDOW, published + CLUSTER_WINDOW

        spans = [span(draft) for _, draft in todo]
        stamps = [d.published_at for _, d in todo]
        keyed, known = self._band_candidates(
            [sorted({d.bands[k] for _, d in todo}) for k in range(len(BANDS))],
            min(stamps) - CLUSTER_WINDOW,
            max(stamps) + CLUSTER_WINDOW,
        )
        # This batch's own rows are candidates under every key they have, whatever the
        # cap (a feed that carries a story twice), as stored rows are under the look-up's.
        mixed: set[tuple[int, int]] = set()
        for (article_id, draft), (published, _, _) in zip(todo, spans, strict=True):
            row = (article_id, published)
            for k, value in enumerate(draft.bands):
                found_ = keyed.setdefault((k, value), [])
                if row not in found_:
                    found_.append(row)
                    if len(found_) > 1:
                        mixed.add((k, value))
        for key in mixed:  # newest first again, as the look-up's rows are
            keyed[key].sort(key=_newest_first, reverse=True)
        tries: list[tuple[int, ArticleDraft, list[int]]] = []
        for (article_id, draft), (_, low, high) in zip(todo, spans, strict=True):
            seen: dict[int, None] = {}  # in the order found: nearest key, then newest
            for k, value in enumerate(draft.bands):
                for other, stamp in keyed[k, value]:
                    if other != article_id and low <= stamp <= high:
                        seen[other] = None
            if seen:
                tries.append((article_id, draft, list(seen)[:MAX_CANDIDATES]))
        if not tries:
            return set()
        # The tried rows' story and headline: this batch's own new rows from their
        # drafts, the others from the look-up (PostgreSQL) or read now (SQLite).
        batch = {article_id: draft.title for article_id, draft in todo}
        missing = list({o for *_, tried in tries for o in tried} - batch.keys() - known.keys())
        if missing:  # SQLite only: PostgreSQL's look-up brought every row it listed
            known.update(
                (row[0], (row[1], row[2]))
                for row in run_on_driver(self.session, _rows_sql(len(missing)), missing)
            )
        cluster_of = {article_id: found[0] for article_id, found in known.items()}
        titles: dict[int, frozenset[str]] = {}

        def title_of(article_id: int) -> frozenset[str]:
            terms = titles.get(article_id)
            if terms is None:
                title = batch.get(article_id)
                if title is None:
                    title = known[article_id][1]
                terms = titles[article_id] = _title_terms(title)
            return terms

        plans: list[tuple[int, ArticleDraft, frozenset[str], list[int]]] = []
        for article_id, draft, tried in tries:
            mine = _title_terms(draft.title)
            agree = [o for o in tried if jaccard(mine, title_of(o)) >= TITLE_AGREEMENT]
            if agree:
                plans.append((article_id, draft, mine, agree))
        if not plans:
            return set()
        read = list({o for *_, candidates in plans for o in candidates})
        found: Iterable[Any] = (
            run_on_driver(self.session, _bodies_sql(len(read)), read)
            if sqlite
            else self.session.execute(_BODIES, {"ids": read})
        )
        bodies = {article_id: shingles(text) for article_id, text in found}
        assigned: dict[int, int] = {}
        for article_id, draft, mine, candidates in plans:
            body = bodies.get(article_id) or shingles(draft.text)
            other_id = next(
                (
                    o
                    for o in candidates
                    if same_story(mine, body, titles[o], bodies.get(o, frozenset()))
                ),
                None,
            )
            if other_id is None:
                continue
            cluster = cluster_of.get(other_id) or other_id
            if cluster_of.get(other_id) is None:
                cluster_of[other_id] = assigned[other_id] = cluster
            cluster_of[article_id] = assigned[article_id] = cluster
        if assigned and sqlite:
            run_on_driver(
                self.session, _CLUSTER_SQL, [(c, a) for a, c in assigned.items()], many=True
            )
        elif assigned:
            # One prepared UPDATE run as executemany, not two statements per article.
            self.session.execute(
                _UPDATE_CLUSTER, [{"b_id": a, "b_cluster": c} for a, c in assigned.items()]
            )
        return set(assigned.values())

    def _band_candidates(
        self, wanted: Sequence[list[int]], low: datetime, high: datetime
    ) -> tuple[dict[tuple[int, int], list[tuple[int, Any]]], dict[int, tuple[Any, str]]]:
        """Per wanted story key ``(band, value)`` (``wanted[band]``, sorted), the
        ``(id, published_at)`` of the newest ``PER_KEY + 1`` rows with it published in
        ``[low, high]``, newest first; and the ``(cluster_id, title)`` of the rows the
        look-up read (none on SQLite, whose look-up reads only the keys' index: the
        caller reads the rows it tries)."""
        present = tuple(n for n, values_ in enumerate(wanted) if values_)
        keyed: dict[tuple[int, int], list[tuple[int, Any]]] = {}
        if self.dialect == "sqlite":
            named: dict[str, Any] = {
                "low": sqlite_stamp(low),
                "high": sqlite_stamp(high),
                "cap": PER_KEY + 1,
            }
            for n in present:
                named[f"v{n}"] = json.dumps(wanted[n])
            for band, position, found in run_on_driver(self.session, _band_sql(present), named):
                if found:  # "id,published;id,published…", newest first
                    keyed[band, wanted[band][position]] = [
                        (int(ident), stamp)
                        for ident, _, stamp in map(_split_item, found.split(";"))
                    ]
            return keyed, {}
        params: dict[str, Any] = {"low": low, "high": high, "cap": PER_KEY + 1}
        for n in present:
            params[f"v{n}"] = wanted[n]
        known: dict[int, tuple[Any, str]] = {}
        # Rows in each look-up's order (newest first); ``all()`` fetches in one driver call.
        rows = self.session.execute(_band_statement(present), params).all()
        for band, position, ident, stamp, cluster_id, title in rows:
            known[ident] = (cluster_id, title)
            keyed.setdefault((band, wanted[band][position - 1]), []).append((ident, stamp))
        return keyed, known


def _newest_first(row: tuple[int, Any]) -> tuple[Any, int]:
    return row[1], row[0]


_split_item = operator.methodcaller("partition", ",")


# The SQLite driver's statements (``db.run_on_driver``): the same SQL SQLAlchemy
# compiles for the Core statements above, built once per placeholder count. Only this
# module's table and column names and placeholders go in the text.
_THEME_SQL = (
    "INSERT INTO article_theme (article_id, theme, score, evidence, origin, tag_version)"
    " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)
_CLUSTER_SQL = "UPDATE article SET cluster_id = ? WHERE id = ?"


@lru_cache(maxsize=256)
def _existing_sql(n: int) -> str:
    return (
        "SELECT url_hash, id, title, summary, content, primary_feed_id FROM article"  # noqa: S608
        f" WHERE url_hash IN ({marks(n)})"
    )


@lru_cache(maxsize=256)
def _sources_sql(n: int) -> str:
    rows = ", ".join(["(?, ?, ?)"] * n)
    return (
        "INSERT INTO article_source (article_id, feed_id, first_seen_at)"  # noqa: S608
        f" VALUES {rows} ON CONFLICT DO NOTHING RETURNING article_id"
    )


@lru_cache(maxsize=256)
def _bodies_sql(n: int) -> str:
    return f"SELECT id, text FROM article WHERE id IN ({marks(n)})"  # noqa: S608


@lru_cache(maxsize=16)
def _band_sql(present: tuple[int, ...]) -> str:
    return " UNION ALL ".join(
        _BAND_CANDIDATES["sqlite"].format(column=BANDS[n].key, n=n) for n in present
    )


@lru_cache(maxsize=256)
def _rows_sql(n: int) -> str:
    return f"SELECT id, cluster_id, title FROM article WHERE id IN ({marks(n)})"  # noqa: S608


@lru_cache(maxsize=16)
def _band_statement(present: tuple[int, ...]) -> Any:
    """PostgreSQL's look-up for the bands that have wanted keys (built once each): rows
    in each look-up's order, as ``_band_candidates`` reads them."""
    arms = [_BAND_CANDIDATES["postgresql"].format(column=BANDS[n].key, n=n) for n in present]
    # Only this module's column names, literals and placeholders go in the text.
    union = " UNION ALL ".join(arms)
    order = " ORDER BY band, i, published_at DESC, id DESC"
    return text(f"SELECT * FROM ({union}) AS m{order}")  # noqa: S608


def _edits(stored: tuple[Any, ...], draft: ArticleDraft, feed_id: int) -> bool:
    """Whether ``draft``, carried by ``feed_id``, changes the stored article's text.

    The article's own feed (its first outlet, ``primary_feed_id``) edits it: a corrected
    headline, a longer body. Another feed carrying the same story (a syndicated copy: a
    title with the outlet's suffix or an "UPDATE:" prefix, a shorter teaser) only adds a
    source; letting it overwrite would flip the card's headline with every poll and
    re-index and re-tag the row each time. One exception: a copy with a body, when the
    stored article has none (the first outlet gave a headline only)."""
    _, title, summary, content, primary = stored
    if (title, summary, content) == (draft.title, draft.summary, draft.content):
        return False
    if primary is None or primary == feed_id:
        return True
    return not (summary or content) and bool(draft.summary or draft.content)


def _row(d: ArticleDraft, now: datetime, feed_id: int | None = None) -> dict[str, Any]:
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
        "language": d.language,  # with_tags put the detected language here
        "published_at": d.published_at,
        "published_estimated": d.published_estimated,
        "first_seen_at": now,
        "updated_at": now,
        "relevance_score": tags.relevance_score,
        "relevance_reason": tags.relevance_reason,
        "relevance_evidence": [evidence_json(e) for e in tags.relevance_evidence],
        "tagger_relevant": tags.relevant,
        "relevant": tags.relevant,
        "theme_mask": sum(THEME_BITS.get(t.key, 0) for t in tags.themes),
        "theme_scores": dict(tags.theme_scores),
        "tag_version": tags.version,
        "band0": b0,
        "band1": b1,
        "band2": b2,
        "band3": b3,
        "outlet": d.outlet,
        # This feed is the new row's first outlet already, so migration 0009's trigger
        # finds nothing to change.
        "primary_feed_id": feed_id,
    }


# ``_row``'s keys in order: the article insert's columns (``_stored_row`` gives the same)
_COLUMNS = (
    "url",
    "url_hash",
    "key_kind",
    "guid",
    "title",
    "author",
    "summary",
    "content",
    "text",
    "language",
    "published_at",
    "published_estimated",
    "first_seen_at",
    "updated_at",
    "relevance_score",
    "relevance_reason",
    "relevance_evidence",
    "tagger_relevant",
    "relevant",
    "theme_mask",
    "theme_scores",
    "tag_version",
    "band0",
    "band1",
    "band2",
    "band3",
    "outlet",
    "primary_feed_id",
)
_MAX_PARAMETERS = 32766  # SQLite's bound-parameter limit (3.32+)


@lru_cache(maxsize=16)
def _article_insert_sql(columns: tuple[str, ...], rows: int) -> str:
    one = "(" + marks(len(columns)) + ")"
    names, values = ", ".join(columns), ", ".join([one] * rows)
    # Only the table's own column names (``_row``'s keys) and placeholders go in the text.
    sql = f"INSERT INTO article ({names}) VALUES {values}"  # noqa: S608
    return sql + " ON CONFLICT (url_hash) DO NOTHING RETURNING url_hash, id"


def _theme_row(article_id: int, tag: ThemeTag, version: str) -> dict[str, Any]:
    return {
        "article_id": article_id,
        "theme": tag.key,
        "score": tag.score,
        "evidence": [evidence_json(e) for e in tag.evidence],
        "origin": "tagger",
        "tag_version": version,
    }


def _stored(d: ArticleDraft) -> StoredForm:
    """The draft's stored form: the parse worker's, or (a draft built elsewhere: tests,
    an in-process caller) encoded here."""
    return d.stored if d.stored is not None else stored_form(d)


def _stored_row(
    d: ArticleDraft, stored: StoredForm, now_stamp: str, feed_id: int
) -> tuple[Any, ...]:
    """``_row(d, now, feed_id)``'s values as SQLite stores them, in ``_COLUMNS``' order,
    from the draft's stored form (``app.store.stored``). ``tests/store/test_stored_form.py``
    holds them equal to what SQLAlchemy binds for ``_row``'s values, ``test_raw_insert``
    the rows to the SQLAlchemy statement's."""
    b0, b1, b2, b3 = d.bands or (None, None, None, None)
    tags = d.tags
    relevant = int(tags.relevant)
    return (
        d.url,
        d.key,
        d.key_kind,
        d.guid,
        d.title,
        d.author,
        d.summary,
        d.content,
        d.text,
        d.language,
        stored.published_at,
        int(d.published_estimated),
        now_stamp,
        now_stamp,
        tags.relevance_score,
        tags.relevance_reason,
        stored.relevance_evidence,
        relevant,
        relevant,
        stored.theme_mask,
        stored.theme_scores,
        tags.version,
        b0,
        b1,
        b2,
        b3,
        d.outlet,
        feed_id,
    )
