"""Full-text search: the user's query language, translated per dialect.

Syntax: words are ANDed; ``OR`` between two terms makes them alternatives;
``"quoted phrases"``; ``-term`` or ``-"phrase"`` excludes. Everything else
(``AND``, ``NOT``, brackets, ``*``, stray quotes, control characters) is
tolerated and ignored, so no input can reach the database as syntax: terms are
always passed as quoted literals (FTS5) or escaped ``LIKE`` patterns (PostgreSQL).

Matching is by substring of the accent-folded, lower-cased ``title + text``
(``text`` holds the plain summary and content), which is what makes German
compounds findable by their parts ("Sicherheit" finds "Datensicherheit").
Both engines keep that document in ``article_search.doc``; SQLite indexes it
with a contentless FTS5 trigram table, PostgreSQL with a pg_trgm GIN index.
Triggers keep them in sync (migration 0002); they are not ORM classes. The poller's
new articles enter SQLite's index in batches, every couple of seconds and at the end of
each round (``index_pending``, migration 0011).

Query words (not phrases) are reduced to their stem before matching (``lemma``):
"senators" searches "senator", "Senatoren" "senator", "Sicherheiten" "sicherheit".
Since matching is by substring, a stem finds every inflection the plain word found and
the other forms too, on both engines; compound parts keep working.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import (
    ColumnElement,
    and_,
    column,
    func,
    literal_column,
    not_,
    or_,
    select,
    table,
    text,
    true,
)
from sqlalchemy.orm import Session

from app.core.errors import InvalidInput
from app.store.tables import Article

# One character to one character, so folded text keeps the offsets of the original
# (highlighting relies on that). Migration 0002 holds a copy: migrations are frozen.
ACCENTED = "àáâãäåçèéêëìíîïñòóôõöøùúûüýÿāăąćčďđēęěğīłńňōőřśšşťūůűźżž"
PLAIN = "aaaaaaceeeeiiiinoooooouuuuyyaaaccddeeegilnnoorssstuuuzzz"
FOLD = str.maketrans(ACCENTED + ACCENTED.upper(), PLAIN + PLAIN)
MAX_TERMS = 16
MIN_INDEXED = 3  # a trigram index cannot look up shorter strings
_TOKEN = re.compile(r'(-?)"([^"]*)"?|(\S+)')
_EDGE = re.compile(r"^[\W_]+|[\W_]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

fts = table("article_fts", column("rowid"), column("article_fts"))
# The article's id as an expression no index serves: a statement that reads articles by
# another index (the volume chart's ranges) checks each one against a list with it,
# instead of SQLite's planner reading the list's rows one by one.
UNINDEXED_ID: ColumnElement[int] = Article.id + literal_column("0")
search_doc = table("article_search", column("id"), column("doc"))


_FOLDED = {chr(k): chr(v) for k, v in FOLD.items()}
_ACCENTS = re.compile(f"[{re.escape(ACCENTED + ACCENTED.upper())}]")


# One statement per batch: FTS5 writes one segment per transaction, so a few large
# batches cost about half of one small batch per feed (migration 0011). A batch is at
# most INDEX_BATCH documents (~40 ms of SQLite's write lock on the peer corpus), so an
# editor's write never waits behind a long one.
INDEX_BATCH = 1000
_WAITING = "SELECT id FROM article_search_pending ORDER BY id LIMIT :n"
_INDEX_PENDING = text(
    f"INSERT INTO article_fts(rowid, doc) SELECT s.id, s.doc FROM ({_WAITING}) AS p"  # noqa: S608
    " JOIN article_search AS s ON s.id = p.id"
)
_FORGET_PENDING = text(f"DELETE FROM article_search_pending WHERE id IN ({_WAITING})")  # noqa: S608
_COUNT_WAITING = text(f"SELECT count(*) FROM ({_WAITING})")  # noqa: S608


def index_pending(session: Session, limit: int = INDEX_BATCH) -> int:
    """Move up to ``limit`` of the documents ingest left pending
    (``upsert_batch(search_later=True)``) into SQLite's full-text index, oldest first, in
    the session's transaction; how many (0 on PostgreSQL, which indexes as it inserts).
    Call again while it returns ``limit``. Light on imports: a warm poll runs it too."""
    if session.get_bind().dialect.name != "sqlite":
        return 0
    params = {"n": limit}
    moved = int(session.execute(_COUNT_WAITING, params).scalar_one())
    if moved:
        session.execute(_INDEX_PENDING, params)
        session.execute(_FORGET_PENDING, params)
    return moved


def fold_doc(doc: str) -> str:
    """``doc.translate(FOLD)`` (the SQLite search document's accents stripped, case kept),
    six times faster on the few accents of real text."""
    return doc if doc.isascii() else _ACCENTS.sub(lambda m: _FOLDED[m.group()], doc)


def fold(value: str) -> str:
    """Lower-case and strip accents, one character for one."""
    return "".join(c if len(low := c.lower()) != 1 else low for c in value).translate(FOLD)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    groups: tuple[tuple[str, ...], ...]  # ANDed groups of ORed folded terms
    excluded: tuple[str, ...] = ()

    @property
    def terms(self) -> tuple[str, ...]:
        """Every positive term, for highlighting."""
        return tuple(t for group in self.groups for t in group)

    @property
    def all_terms(self) -> tuple[str, ...]:
        return (*self.terms, *self.excluded)


def parse_query(raw: str) -> SearchQuery:
    """The user's text as groups of alternatives and exclusions; never raises on syntax."""
    groups: list[list[str]] = []
    excluded: list[str] = []
    join_next = False
    for match in _TOKEN.finditer(_CONTROL.sub(" ", raw)):
        minus, phrase, word = match.groups()
        if word is not None and word.upper() == "OR":
            join_next = bool(groups)
            continue
        if word is not None and word.startswith("-") and len(word) > 1:
            minus, word = "-", word[1:]
        term = _clean(phrase) if phrase is not None else lemma(_clean(word))
        if not term or (word is not None and term.upper() in ("AND", "NOT")):
            continue
        if minus:
            excluded.append(term)
        elif join_next:
            groups[-1].append(term)
        else:
            groups.append([term])
        join_next = False
    if len(excluded) + sum(map(len, groups)) > MAX_TERMS:
        raise InvalidInput(f"a search may use at most {MAX_TERMS} terms", field="q")
    return SearchQuery(tuple(tuple(dict.fromkeys(g)) for g in groups), tuple(excluded))


# Plural and inflection endings (English and German), longest first; a stem keeps at
# least MIN_STEM letters so short words stay whole ("news", "daten").
SUFFIXES = ("ies", "en", "es", "s")
MIN_STEM = 4


def lemma(word: str) -> str:
    """The folded word without a plural or inflection ending, when enough remains."""
    if not word.isalpha():
        return word
    for suffix in SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= MIN_STEM:
            return word[: -len(suffix)]
    return word


def _clean(term: str | None) -> str:
    """Collapse spaces, trim punctuation at the edges (``*``, brackets), fold."""
    return fold(_EDGE.sub("", " ".join((term or "").split())))


def search_clause(query: SearchQuery, dialect: str, *, scan: bool = False) -> ColumnElement[bool]:
    """A condition on ``Article`` for the parsed query, for the session's dialect.

    ``scan``: the statement reads its articles by another index (the volume chart's
    ranges of days) and checks each against the matches. On SQLite the matches are then
    looked up by an expression of the id, which no index serves, so the planner keeps
    the ranges: left free, it read every match's row once per day and theme of the
    chart (a term in most of 1M articles: 6 s for two days, minutes for a month).
    """
    if not query.all_terms:
        return true()
    if dialect == "postgresql":
        return _postgres(query)
    return _sqlite(query, UNINDEXED_ID if scan else Article.id.expression)


def _like(term: str, doc: ColumnElement[str] | None = None) -> ColumnElement[bool]:
    target = search_doc.c.doc if doc is None else doc
    return target.like(f"%{_escape_like(term)}%", escape="\\")


def doc_clause(
    query: SearchQuery, doc: ColumnElement[str], dialect: str
) -> ColumnElement[bool] | None:
    """The query as ``LIKE`` tests on an already fetched folded document ``doc``.

    For checking a bounded set of candidate rows (the newest of the timeline) one by
    one, which beats collecting every match from the index when terms are common.
    None when that would not match exactly what ``search_clause`` matches: SQLite
    keeps the document's case (its trigram index folds it) and its ``LIKE`` folds
    ASCII letters only.
    """
    if not query.all_terms:
        return None
    if dialect != "postgresql" and not all(t.isascii() for t in query.all_terms):
        return None
    return and_(
        *(or_(*(_like(t, doc) for t in group)) for group in query.groups),
        *(not_(_like(t, doc)) for t in query.excluded),
    )


def _postgres(query: SearchQuery) -> ColumnElement[bool]:
    like = _like
    cond = and_(
        *(or_(*(like(t) for t in group)) for group in query.groups),
        *(not_(like(t)) for t in query.excluded),
    )
    return Article.id.in_(select(search_doc.c.id).where(cond))


def _sqlite(query: SearchQuery, ident: ColumnElement[int]) -> ColumnElement[bool]:
    """``ident``: the article's id, as the statement should look it up in the matches."""
    if all(len(t) >= MIN_INDEXED for t in query.all_terms):
        return _sqlite_match(query, ident)

    # Short terms are checked with LIKE on the folded document (no index helps them).
    def term(value: str) -> ColumnElement[bool]:
        if len(value) >= MIN_INDEXED:
            return ident.in_(select(fts.c.rowid).where(_match(_quote(value))))
        return ident.in_(select(search_doc.c.id).where(_like(value)))

    return and_(
        *(or_(*(term(t) for t in group)) for group in query.groups),
        *(not_(term(t)) for t in query.excluded),
    )


def _sqlite_match(query: SearchQuery, ident: ColumnElement[int]) -> ColumnElement[bool]:
    """One MATCH for the whole query: ``(a OR b) AND c NOT (d OR e)``."""
    expression = match_expression(query)
    if expression is None:
        negative = " OR ".join(_quote(t) for t in query.excluded)
        return ident.not_in(select(fts.c.rowid).where(_match(negative)))
    return ident.in_(select(fts.c.rowid).where(_match(expression)))


def match_expression(query: SearchQuery) -> str | None:
    """The query as one FTS5 expression (SQLite), or None when no term is wanted or a
    term is too short for the trigram index."""
    if not query.groups or any(len(t) < MIN_INDEXED for t in query.all_terms):
        return None
    positive = " AND ".join(
        "(" + " OR ".join(_quote(t) for t in group) + ")" for group in query.groups
    )
    negative = " OR ".join(_quote(t) for t in query.excluded)
    return f"{positive} NOT ({negative})" if negative else positive


def fewer_matches_than(session: Session, expression: str, limit: int) -> bool:
    """Whether the full-text index holds fewer than ``limit`` matches of ``expression``
    (SQLite): it stops reading at ``limit``, so a common term costs no more than a rare
    one."""
    first = select(fts.c.rowid).where(_match(expression)).limit(limit).subquery()
    found = session.execute(select(func.count()).select_from(first)).scalar_one()
    return int(found) < limit


def _match(expression: str) -> ColumnElement[bool]:
    # The expression is built only from quoted literals, and bound as a parameter.
    clause: ColumnElement[bool] = fts.c.article_fts.op("MATCH")(expression)
    return clause


def _quote(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def _escape_like(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
