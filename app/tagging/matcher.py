"""Applying a ``RuleIndex`` to one field: hits with offsets into that field.

Pure apart from a per-matcher memo of word entries, which only ever caches a
deterministic function of (word, language, rules).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping
from typing import NamedTuple

from app.tagging.rules import MIN_COMPOUND_REST, Rule, RuleIndex
from app.tagging.tokens import Tokens, lemma_of, tokenize

_CACHE_LIMIT = 300_000


class Hit(NamedTuple):
    rule: Rule
    field: str
    start: int
    end: int
    first: int  # token index of the first matched token
    last: int
    sentence: int
    paragraph: int


class _Entry(NamedTuple):
    """What one distinct word can do: its keys and the rules anchored on it."""

    keys: frozenset[str]
    singles: tuple[Rule, ...]  # one-token rules this word satisfies on its own
    anchored: tuple[Rule, ...]  # phrase and proximity rules to check around it
    active: bool  # has any rule at all (most words have none)


_EMPTY: tuple[Rule, ...] = ()


class Matcher:
    """Turns text into keyed tokens and finds every rule occurrence."""

    def __init__(self, index: RuleIndex, lang: str) -> None:
        self.index = index
        self.lang = lang
        self._entries: dict[str, _Entry] = {}

    def entry(self, word: str) -> _Entry:
        # Memoised per distinct word: news vocabulary repeats, so the compound
        # splitting and lemmatising below run once per word, not per token.
        found = self._entries.get(word)
        if found is None:
            found = self._compute_entry(word)
            if len(self._entries) < _CACHE_LIMIT:
                self._entries[word] = found
        return found

    def _compute_entry(self, word: str) -> _Entry:
        keys = self._compute_keys(word)
        rules: dict[int, Rule] = {}
        for key in sorted(keys):
            for rule in self.index.by_key.get(key, ()):
                rules.setdefault(id(rule), rule)
        ordered = sorted(rules.values(), key=lambda r: (r.group, r.term))
        singles = tuple(r for r in ordered if len(r.pattern) == 1)
        anchored = tuple(r for r in ordered if len(r.pattern) > 1)
        return _Entry(keys, singles or _EMPTY, anchored or _EMPTY, bool(singles or anchored))

    def _compute_keys(self, word: str) -> frozenset[str]:
        lower = word.lower()
        lemma = lemma_of(word, self.lang)
        keys = {"f:" + lower, "l:" + lemma}
        prefixes, suffixes = self.index.prefixes, self.index.suffixes
        for form in {lower, lemma}:
            for i in range(MIN_COMPOUND_REST, len(form) - MIN_COMPOUND_REST + 1):
                if form[:i] in prefixes:
                    keys.add("p:" + form[:i])
                if form[i:] in suffixes:
                    keys.add("s:" + form[i:])
            # A bare word also satisfies its own prefix/suffix rule ("*sicherheit").
            if form in prefixes:
                keys.add("p:" + form)
            if form in suffixes:
                keys.add("s:" + form)
        return frozenset(keys)

    def find(self, fields: Mapping[str, str]) -> list[Hit]:
        """Every rule occurrence in ``fields`` (name -> text), offsets per field.

        The fields are tokenised as one text with paragraph breaks between
        them (no phrase crosses a paragraph), which halves the per-call work
        for short titles and summaries.
        """
        texts = list(fields.values())
        toks = tokenize(_SEP.join(texts))
        known = self._entries.get
        entries = [known(w) or self.entry(w) for w in toks.words]
        active = [i for i, e in enumerate(entries) if e.active]
        hits: list[Hit] = []
        base = 0
        for name, text in zip(fields, texts, strict=True):
            # Tokens never straddle the separator, so each field is a slice.
            end = base + len(text)
            lo = bisect_left(active, bisect_left(toks.starts, base))
            hi = bisect_left(active, bisect_left(toks.starts, end + 1))
            at = _At(name, base, toks)
            for i in active[lo:hi]:
                entry = entries[i]
                for rule in entry.singles:
                    hits.append(at.hit(rule, i, i))
                for rule in entry.anchored:
                    span = (_near_at if rule.near else _phrase_at)(rule, toks, entries, i)
                    if span is not None:
                        hits.append(at.hit(rule, *span))
            base = end + len(_SEP)
        return hits


_SEP = "\n\n"


def _phrase_at(rule: Rule, toks: Tokens, entries: list[_Entry], i: int) -> tuple[int, int] | None:
    first = i - rule.anchor
    last = first + len(rule.pattern) - 1
    if first < 0 or last >= len(entries):
        return None
    sentence = toks.sentences[i]
    for offset, wanted in enumerate(rule.pattern):
        j = first + offset
        if j != i and (toks.sentences[j] != sentence or not wanted & entries[j].keys):
            return None
    return first, last


def _near_at(rule: Rule, toks: Tokens, entries: list[_Entry], i: int) -> tuple[int, int] | None:
    wanted = rule.pattern[1 - rule.anchor]
    sentence = toks.sentences[i]
    lo, hi = max(0, i - rule.near), min(len(entries), i + rule.near + 1)
    for j in range(lo, hi):
        if j != i and toks.sentences[j] == sentence and wanted & entries[j].keys:
            return min(i, j), max(i, j)
    return None


class _At:
    """Builds the hits of one field: its name and its offset in the joined text."""

    __slots__ = ("base", "name", "toks")

    def __init__(self, name: str, base: int, toks: Tokens) -> None:
        self.name, self.base, self.toks = name, base, toks

    def hit(self, rule: Rule, first: int, last: int) -> Hit:
        toks, base = self.toks, self.base
        # tuple.__new__ skips NamedTuple's Python-level constructor: hits are many.
        return _new_tuple(
            Hit,
            (
                rule,
                self.name,
                toks.starts[first] - base,
                toks.starts[last] + len(toks.words[last]) - base,
                first,
                last,
                toks.sentences[first],
                toks.paragraphs[first],
            ),
        )


_new_tuple = tuple.__new__


def drop_vetoed(hits: list[Hit], vetoes: list[Hit]) -> list[Hit]:
    """Hits that overlap no veto span of their own group family."""
    if not vetoes:
        return hits
    spans = [(v.field, v.rule.family, v.start, v.end) for v in vetoes]
    return [h for h in hits if not any(_overlaps(h, s) for s in spans)]


def _overlaps(hit: Hit, span: tuple[str, str, int, int]) -> bool:
    fld, group, start, end = span
    return fld == hit.field and hit.rule.family == group and hit.start < end and start < hit.end
