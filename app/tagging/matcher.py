"""Applying a ``RuleIndex`` to one field: hits with offsets into that field.

Pure apart from a per-matcher memo of word entries, which only ever caches a
deterministic function of (word, language, rules).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from itertools import compress
from operator import attrgetter
from sys import intern
from typing import NamedTuple

from app.tagging.rules import COMPOUND_LANGUAGES, MIN_COMPOUND_REST, Rule, RuleIndex
from app.tagging.tokens import COMPILED, Tokens, is_known, lemma_of, tokenize

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


class Scanned(NamedTuple):
    """The tokens of one ``scan``: the fields joined by ``_SEP``, each from its base offset."""

    tokens: Tokens
    lemmas: list[str]  # per token
    names: tuple[str, ...]  # field names, in order
    bases: list[int]  # offset of each field in the joined text

    def locate(self, i: int) -> tuple[str, int, int]:
        """(field, start, end) of token ``i`` within its own field."""
        start = self.tokens.starts[i]
        k = bisect_right(self.bases, start) - 1
        base = self.bases[k]
        return self.names[k], start - base, start - base + len(self.tokens.words[i])


class _Anchored(NamedTuple):
    """A phrase or proximity rule anchored on a word, pre-digested for ``find``.

    Phrase (``near`` 0): tokens ``i + lo`` .. ``i + hi`` around the anchor ``i``,
    each ``(delta, wanted)`` in ``checks`` a token other than the anchor.
    Proximity: ``checks`` is the single ``(0, wanted)`` of the other word.
    """

    rule: Rule
    near: int
    lo: int
    hi: int
    checks: tuple[tuple[int, frozenset[str]], ...]


class _Entry(NamedTuple):
    """What one distinct word can do: its keys and the rules anchored on it."""

    keys: frozenset[str]
    lemma: str  # lower-cased lemma (the learned layer's word features)
    singles: tuple[Rule, ...]  # one-token rules this word satisfies on its own
    anchored: tuple[_Anchored, ...]  # phrase and proximity rules to check around it
    active: bool  # has any rule at all (most words have none)
    # Per token offset where a phrase rule looks first, every key any of them wants
    # there: when no neighbour has one, no phrase can match, and only ``proximity``
    # (the proximity rules, in ``anchored`` order) is tried.
    gate: tuple[tuple[int, frozenset[str]], ...]
    proximity: tuple[_Anchored, ...]


_EMPTY: tuple[Rule, ...] = ()
_NO_ANCHORED: tuple[_Anchored, ...] = ()
_ACTIVE = attrgetter("active")
_LEMMA = attrgetter("lemma")


def _anchored(rule: Rule) -> _Anchored:
    if rule.near:
        return _Anchored(rule, rule.near, 0, 0, ((0, rule.pattern[1 - rule.anchor]),))
    a = rule.anchor
    checks = tuple((k - a, keys) for k, keys in enumerate(rule.pattern) if k != a)
    return _Anchored(rule, 0, -a, len(rule.pattern) - 1 - a, checks)


class Matcher:
    """Turns text into keyed tokens and finds every rule occurrence."""

    def __init__(self, index: RuleIndex, lang: str) -> None:
        self.index = index
        self.lang = lang
        self._entries: dict[str, _Entry] = {}
        # Words with the same phrase rules share one gate (a parse worker memoises
        # tens of thousands of words; the gates repeat).
        self._gates: dict[
            tuple[tuple[int, frozenset[str]], ...], tuple[tuple[int, frozenset[str]], ...]
        ] = {}

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
        anchored = tuple(_anchored(r) for r in ordered if len(r.pattern) > 1)
        # Interned, as the model's vocabulary is: its look-ups then match by identity and
        # never read the (cache-cold) key strings.
        lemma = intern(lemma_of(word, self.lang))
        active = bool(singles or anchored)
        by_delta: dict[int, set[str]] = {}
        for a in anchored:
            if not a.near:
                delta, wanted = a.checks[0]
                by_delta.setdefault(delta, set()).update(wanted)
        gate = tuple((delta, frozenset(wanted)) for delta, wanted in sorted(by_delta.items()))
        gate = self._gates.setdefault(gate, gate)
        return _Entry(
            keys,
            lemma,
            singles or _EMPTY,
            anchored or _NO_ANCHORED,
            active,
            gate,
            tuple(a for a in anchored if a.near) or _NO_ANCHORED,
        )

    def _compute_keys(self, word: str) -> frozenset[str]:
        lower = word.lower()
        lemma = lemma_of(word, self.lang)
        keys = {"f:" + lower, "l:" + lemma}
        prefixes, suffixes = self.index.prefixes, self.index.suffixes
        for form in {lower, lemma}:
            for i in range(MIN_COMPOUND_REST, len(form) - MIN_COMPOUND_REST + 1):
                if form[:i] in prefixes:
                    keys.add("p:" + form[:i])
                if form[i:] in suffixes and not _swallowed(form, i, self.lang):
                    keys.add("s:" + form[i:])
            # A bare word also satisfies its own prefix/suffix rule ("*sicherheit").
            if form in prefixes:
                keys.add("p:" + form)
            if form in suffixes:
                keys.add("s:" + form)
        return frozenset(keys)

    def find(self, fields: Mapping[str, str]) -> list[Hit]:
        """Every rule occurrence in ``fields`` (name -> text), offsets per field."""
        return self.scan(fields)[0]

    def scan(self, fields: Mapping[str, str]) -> tuple[list[Hit], Scanned]:
        """``find``'s hits and the tokens they were found in (for word features).

        The fields are tokenised as one text with paragraph breaks between
        them (no phrase crosses a paragraph), which halves the per-call work
        for short titles and summaries.
        """
        texts = list(fields.values())
        toks = tokenize(_SEP.join(texts))
        words, starts = toks.words, toks.starts
        sentences, paragraphs = toks.sentences, toks.paragraphs
        if COMPILED:  # one native pass: entries, the tokens with rules, the lemmas
            entries, active, lemmas = self._entries_of(words)
        else:
            # Known words (nearly all, once warm) via C-level map; misses compute.
            try:
                entries = list(map(self._entries.__getitem__, words))
            except KeyError:
                entries = list(map(self.entry, words))
            active = list(compress(range(len(entries)), map(_ACTIVE, entries)))
            lemmas = list(map(_LEMMA, entries))
        n = len(entries)
        hits: list[Hit] = []
        append = hits.append
        base = 0
        bases: list[int] = []
        # The loops below are the tagger's hot path (tens of rule checks per
        # article, most failing at the first neighbour): hits and phrase checks
        # are inlined rather than made by per-hit helper calls.
        for name, text in zip(fields, texts, strict=True):
            # Tokens never straddle the separator, so each field is a slice.
            end = base + len(text)
            lo = bisect_left(active, bisect_left(starts, base))
            hi = bisect_left(active, bisect_left(starts, end + 1))
            for i in active[lo:hi]:
                entry = entries[i]
                sentence = sentences[i]
                if entry.singles:
                    start = starts[i] - base
                    stop = start + len(words[i])
                    paragraph = paragraphs[i]
                    for rule in entry.singles:
                        # tuple.__new__ skips NamedTuple's Python-level constructor.
                        append(
                            _new_tuple(Hit, (rule, name, start, stop, i, i, sentence, paragraph))
                        )
                anchored = entry.anchored
                if not anchored:
                    continue
                # Phrases are tried only if a neighbour where one looks first has a
                # key one wants there (most anchors match nothing: one C call each).
                for delta, wanted in entry.gate:
                    j = i + delta
                    if (
                        0 <= j < n
                        and sentences[j] == sentence
                        and not wanted.isdisjoint(entries[j].keys)
                    ):
                        break
                else:
                    anchored = entry.proximity
                for rule, near, first, last, checks in anchored:
                    if near:
                        wanted = checks[0][1]
                        for j in range(max(0, i - near), min(n, i + near + 1)):
                            if (
                                j != i
                                and sentences[j] == sentence
                                and not wanted.isdisjoint(entries[j].keys)
                            ):
                                break
                        else:
                            continue
                        first, last = (i, j) if i < j else (j, i)
                    else:
                        first += i
                        last += i
                        if first < 0 or last >= n:
                            continue
                        matched = True
                        for delta, wanted in checks:
                            j = i + delta
                            if sentences[j] != sentence or wanted.isdisjoint(entries[j].keys):
                                matched = False
                                break
                        if not matched:
                            continue
                    append(
                        _new_tuple(
                            Hit,
                            (
                                rule,
                                name,
                                starts[first] - base,
                                starts[last] + len(words[last]) - base,
                                first,
                                last,
                                sentences[first],
                                paragraphs[first],
                            ),
                        )
                    )
            bases.append(base)
            base = end + len(_SEP)
        return hits, Scanned(toks, lemmas, tuple(fields), bases)

    def _entries_of(self, words: list[str]) -> tuple[list[_Entry], list[int], list[str]]:
        """Each word's entry, the indices of the words with rules, and the lemmas: what
        ``scan``'s C-level maps make in three passes, in one (compiled, it runs natively)."""
        known = self._entries
        entries: list[_Entry] = []
        active: list[int] = []
        lemmas: list[str] = []
        for i in range(len(words)):
            entry = known.get(words[i])
            if entry is None:
                entry = self.entry(words[i])
            entries.append(entry)
            lemmas.append(entry.lemma)
            if entry.active:
                active.append(i)
        return entries, active, lemmas


_SEP = "\n\n"


def _swallowed(form: str, i: int, lang: str) -> bool:
    """Is the last part really longer than ``form[i:]``? "Kaufangebot" ends in
    "Angebot", not "Gebot": a known word one to three letters longer wins."""
    return lang in COMPOUND_LANGUAGES and any(
        is_known(form[i - k :], lang) for k in (1, 2, 3) if i - k > 0
    )


_new_tuple = tuple.__new__


def drop_vetoed(hits: list[Hit], vetoes: list[Hit]) -> list[Hit]:
    """Hits that overlap no veto span of their own group family."""
    if not vetoes:
        return hits
    spans: dict[tuple[str, str], list[tuple[int, int]]] = {}
    for v in vetoes:
        spans.setdefault((v.field, v.rule.family), []).append((v.start, v.end))
    kept = []
    for h in hits:
        found = spans.get((h.field, h.rule.family))
        if found is None or not any(h.start < end and start < h.end for start, end in found):
            kept.append(h)
    return kept
