"""A saved view's query string compiled to a predicate on one ingested article, and an
index of many rules so each article meets only the rules that could match it.

The query string is the timeline's (``theme=security&lang=de&q=tiktok``), parsed the
way ``app.web.params`` parses it (the same keys, the same ``TimelineFilter``, the same
search language from ``app.store.search``), without importing the web. Semantics follow
``ArticleStore`` filtering: ``relevance=relevant`` (the default) needs a relevant
article; themes any/all on the theme mask; languages exact; sources by feed id; ``q``
by substring of the folded ``title + text`` document (``article_search.doc``); since
and until on the published time (presets like ``7d`` relative to the match time).
``flagged`` views never match a new article: nobody has flagged it yet.

The index files each rule under its most discriminating field (a language, else its
themes, else a source), split by whether it needs a relevant article; an article then
looks at the rules filed under its own language, themes and feeds plus the rules with
none of those, and runs only their full predicates.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

from app.core.errors import InvalidInput
from app.core.timeline import THEME_BITS, TimelineFilter
from app.store.search import SearchQuery, parse_query

PRESETS = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
_NUMBER = re.compile(r"[0-9]{1,10}")


@dataclass(frozen=True, slots=True)
class ArticleFacts:
    """What matching needs of an article (no database access while matching)."""

    id: int
    relevant: bool
    theme_mask: int
    language: str | None
    published_at: datetime
    feed_ids: frozenset[int]
    doc: str = ""  # the folded title + text (only loaded when some rule searches)


def filter_from_query(query: str) -> TimelineFilter:
    """The saved view's query string as a ``TimelineFilter`` (times left relative)."""
    pairs = parse_qsl(query.lstrip("?"), keep_blank_values=False)
    multi: dict[str, list[str]] = {}
    for key, value in pairs:
        multi.setdefault(key, []).append(value)

    def one(key: str) -> str | None:
        values = multi.get(key)
        return values[0] if values else None

    sources = []
    for raw in multi.get("source", []):
        if not _NUMBER.fullmatch(raw):
            raise InvalidInput("source must be a feed id", field="source")
        sources.append(int(raw))
    q = (one("q") or "").strip()[:500] or None
    return TimelineFilter(
        themes=tuple(dict.fromkeys(multi.get("theme", []))),
        themes_mode=one("themes_mode") or "any",
        sources=tuple(dict.fromkeys(sources)),
        languages=tuple(dict.fromkeys(v.lower() for v in multi.get("lang", []))),
        q=q,
        flagged=one("flagged"),
        relevance=one("relevance") or "relevant",
    )


def _time_bound(raw: str | None) -> tuple[datetime | None, timedelta | None]:
    """An absolute bound, or a preset's age (``7d``), from a view's since/until."""
    if not raw:
        return None, None
    if raw in PRESETS:
        return None, PRESETS[raw]
    try:
        when = datetime.fromisoformat(raw.upper().replace("Z", "+00:00"))
    except ValueError:
        return None, None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if len(raw) == 10:
        return when, None  # a bare date (the caller adds a day for until)
    return when.astimezone(UTC), None


@dataclass(slots=True)
class CompiledRule:
    """One rule's predicate, pre-digested into plain values."""

    rule_id: int
    needs_relevant: bool
    mask: int = 0
    all_themes: bool = False
    languages: frozenset[str] = frozenset()
    sources: frozenset[int] = frozenset()
    groups: tuple[tuple[str, ...], ...] = ()
    excluded: tuple[str, ...] = ()
    since: datetime | None = None
    since_age: timedelta | None = None
    until: datetime | None = None
    never: bool = False  # flagged views: nothing new is flagged

    @property
    def searches(self) -> bool:
        return bool(self.groups or self.excluded)

    def matches(self, a: ArticleFacts, now: datetime) -> bool:
        if self.never or (self.needs_relevant and not a.relevant):
            return False
        if self.mask:
            hit = a.theme_mask & self.mask
            if (hit != self.mask) if self.all_themes else not hit:
                return False
        if self.languages and a.language not in self.languages:
            return False
        if self.sources and not (self.sources & a.feed_ids):
            return False
        if self.since is not None and a.published_at < self.since:
            return False
        if self.since_age is not None and a.published_at < now - self.since_age:
            return False
        if self.until is not None and a.published_at >= self.until:
            return False
        if self.groups or self.excluded:
            doc = a.doc
            for group in self.groups:
                if not any(term in doc for term in group):
                    return False
            for term in self.excluded:
                if term in doc:
                    return False
        return True


def compile_rule(rule_id: int, query: str) -> CompiledRule:
    """The rule's predicate; a view whose query no longer parses matches nothing."""
    try:
        flt = filter_from_query(query)
        search: SearchQuery | None = parse_query(flt.q) if flt.q else None
    except InvalidInput:
        return CompiledRule(rule_id, needs_relevant=True, never=True)
    pairs = dict(parse_qsl(query.lstrip("?")))
    since, since_age = _time_bound(pairs.get("since"))
    until, until_age = _time_bound(pairs.get("until"))
    if until is not None and len(pairs.get("until", "")) == 10:
        until += timedelta(days=1)
    if until_age is not None:  # "until=7d": published over a week ago; never new
        return CompiledRule(rule_id, needs_relevant=True, never=True)
    return CompiledRule(
        rule_id,
        needs_relevant=flt.relevance == "relevant",
        mask=flt.theme_mask,
        all_themes=flt.themes_mode == "all",
        languages=frozenset(flt.languages),
        sources=frozenset(flt.sources),
        groups=search.groups if search else (),
        excluded=search.excluded if search else (),
        since=since,
        since_age=since_age,
        until=until,
        never=flt.flagged is not None,
    )


@dataclass(slots=True)
class _Bucket:
    """Rules of one relevance requirement, filed by their most discriminating field."""

    by_language: dict[str, list[CompiledRule]] = field(default_factory=dict)
    by_theme: dict[int, list[CompiledRule]] = field(default_factory=dict)
    by_source: dict[int, list[CompiledRule]] = field(default_factory=dict)
    rest: list[CompiledRule] = field(default_factory=list)

    def add(self, rule: CompiledRule) -> None:
        if rule.languages:
            for lang in rule.languages:
                self.by_language.setdefault(lang, []).append(rule)
        elif rule.mask:
            # "all": one of its themes must be there; file it under its rarest-looking
            # (highest) bit. "any": under each of them.
            bits = [b for b in THEME_BITS.values() if rule.mask & b]
            for bit in bits[-1:] if rule.all_themes else bits:
                self.by_theme.setdefault(bit, []).append(rule)
        elif rule.sources:
            for source in rule.sources:
                self.by_source.setdefault(source, []).append(rule)
        else:
            self.rest.append(rule)

    def candidates(self, a: ArticleFacts) -> Iterable[CompiledRule]:
        yield from self.rest
        if a.language is not None:
            yield from self.by_language.get(a.language, ())
        if a.theme_mask:
            for bit, rules in self.by_theme.items():
                if a.theme_mask & bit:
                    yield from rules
        for feed in a.feed_ids:
            yield from self.by_source.get(feed, ())


class RuleIndex:
    """Many compiled rules; ``match`` gives the ids of the rules an article matches."""

    def __init__(self, rules: Iterable[CompiledRule]) -> None:
        self.rules = [r for r in rules if not r.never]
        self._relevant = _Bucket()  # rules that need a relevant article
        self._any = _Bucket()  # relevance=all
        for rule in self.rules:
            (self._relevant if rule.needs_relevant else self._any).add(rule)
        self.searches = any(r.searches for r in self.rules)

    @classmethod
    def from_queries(cls, rules: Iterable[tuple[int, str]]) -> RuleIndex:
        return cls(compile_rule(rule_id, query) for rule_id, query in rules)

    def __len__(self) -> int:
        return len(self.rules)

    def match(self, a: ArticleFacts, now: datetime) -> list[int]:
        seen: set[int] = set()
        hits: list[int] = []
        buckets: Sequence[_Bucket] = (self._relevant, self._any) if a.relevant else (self._any,)
        for bucket in buckets:
            for rule in bucket.candidates(a):
                if rule.rule_id in seen:
                    continue
                seen.add(rule.rule_id)
                if rule.matches(a, now):
                    hits.append(rule.rule_id)
        return hits
