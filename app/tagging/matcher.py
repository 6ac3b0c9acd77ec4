"""Applying a ``RuleIndex`` to one field: hits with offsets into that field.

Pure apart from a per-index memo of token keys, which only ever caches a
deterministic function of (word, language).
"""

from __future__ import annotations

from dataclasses import dataclass

from app.tagging.rules import MIN_COMPOUND_REST, Rule, RuleIndex
from app.tagging.tokens import Token, lemma_of, tokenize

_KEY_CACHE_LIMIT = 300_000


@dataclass(frozen=True, slots=True)
class Hit:
    rule: Rule
    field: str
    start: int
    end: int
    first: int  # token index of the first matched token
    last: int
    sentence: int
    paragraph: int


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    text: str
    tokens: tuple[Token, ...]
    keys: tuple[frozenset[str], ...]


class Matcher:
    """Turns text into keyed tokens and finds every rule occurrence."""

    def __init__(self, index: RuleIndex, lang: str) -> None:
        self.index = index
        self.lang = lang
        self._keys: dict[str, frozenset[str]] = {}

    def field(self, name: str, text: str) -> Field:
        tokens = tuple(tokenize(text))
        return Field(name, text, tokens, tuple(self.keys_of(t.text) for t in tokens))

    def keys_of(self, word: str) -> frozenset[str]:
        keys = self._keys.get(word)
        if keys is None:
            keys = self._compute_keys(word)
            if len(self._keys) < _KEY_CACHE_LIMIT:
                self._keys[word] = keys
        return keys

    def _compute_keys(self, word: str) -> frozenset[str]:
        lower = word.lower()
        lemma = lemma_of(word, self.lang)
        keys = {"f:" + lower, "l:" + lemma}
        for form in {lower, lemma}:
            for i in range(MIN_COMPOUND_REST, len(form) - MIN_COMPOUND_REST + 1):
                if form[:i] in self.index.prefixes:
                    keys.add("p:" + form[:i])
                if form[i:] in self.index.suffixes:
                    keys.add("s:" + form[i:])
        # A bare word also satisfies its own prefix/suffix rule ("*sicherheit").
        for form in (lower, lemma):
            if form in self.index.prefixes:
                keys.add("p:" + form)
            if form in self.index.suffixes:
                keys.add("s:" + form)
        return frozenset(keys)

    def find(self, fld: Field) -> list[Hit]:
        hits: list[Hit] = []
        by_key = self.index.by_key
        for i, keys in enumerate(fld.keys):
            seen: set[int] = set()
            for key in keys:
                for rule in by_key.get(key, ()):
                    if id(rule) in seen:
                        continue
                    seen.add(id(rule))
                    hit = self._match_at(rule, fld, i)
                    if hit is not None:
                        hits.append(hit)
        return hits

    def _match_at(self, rule: Rule, fld: Field, i: int) -> Hit | None:
        if rule.near:
            return self._match_near(rule, fld, i)
        last = i + len(rule.pattern) - 1
        if last >= len(fld.tokens):
            return None
        sentence = fld.tokens[i].sentence
        for offset in range(1, len(rule.pattern)):
            j = i + offset
            if fld.tokens[j].sentence != sentence or not (rule.pattern[offset] & fld.keys[j]):
                return None
        return _hit(rule, fld, i, last)

    def _match_near(self, rule: Rule, fld: Field, i: int) -> Hit | None:
        sentence = fld.tokens[i].sentence
        lo, hi = max(0, i - rule.near), min(len(fld.tokens), i + rule.near + 1)
        for j in range(lo, hi):
            if j != i and fld.tokens[j].sentence == sentence and rule.pattern[1] & fld.keys[j]:
                return _hit(rule, fld, min(i, j), max(i, j))
        return None


def _hit(rule: Rule, fld: Field, first: int, last: int) -> Hit:
    a, b = fld.tokens[first], fld.tokens[last]
    return Hit(rule, fld.name, a.start, b.end, first, last, a.sentence, a.paragraph)


def drop_vetoed(hits: list[Hit], vetoes: list[Hit]) -> list[Hit]:
    """Hits that overlap no veto span of their own group family."""
    if not vetoes:
        return hits
    spans = [(v.field, v.rule.group.removeprefix("veto:"), v.start, v.end) for v in vetoes]
    return [h for h in hits if not any(_overlaps(h, s) for s in spans)]


def _overlaps(hit: Hit, span: tuple[str, str, int, int]) -> bool:
    fld, group, start, end = span
    family = hit.rule.group.split(":", 1)[0]
    return fld == hit.field and family == group and hit.start < end and start < hit.end
