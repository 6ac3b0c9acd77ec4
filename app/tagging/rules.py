"""Compiling term strings from the TOML files into an inverted index.

Term grammar (documented for editors at the top of ``themes.toml``):

* ``data security`` - a phrase: consecutive tokens, each matched by its lemma
  or its lower-cased form in the article's language ("hearings" matches
  ``hearing``).
* ``word*`` / ``*word`` - the token starts / ends with ``word`` (compound parts:
  ``*sicherheit`` matches "Datensicherheit").
* In German, Dutch and Swedish every single-word term of five letters or more
  also matches as the first or last part of a longer compound, provided the
  rest is three letters or more ("Anhörung" matches "Kongressanhörung",
  "Sicherheit" matches "Sicherheitsbedenken").
* ``=word`` - lemma or form only, never a compound part (for short or
  ambiguous words such as ``=Recht``).
* ``!word`` - the exact lower-cased surface form only, no lemma ("!securities").
* ``a ~N b`` - ``a`` and ``b`` (single words) in the same sentence at most N
  tokens apart, in either order.

Matching keys: each article token is turned once (cached) into the set of keys
it can satisfy: ``f:form``, ``l:lemma``, ``p:prefix``, ``s:suffix``. A rule is
indexed under the keys of its first token, so a field is matched with one dict
look-up per token key instead of a scan over every rule.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from app.tagging.tokens import lemma_of

COMPOUND_LANGUAGES = frozenset({"de", "nl", "sv", "da", "nb"})
MIN_COMPOUND_TERM = 5
MIN_COMPOUND_REST = 3
ANY_LANGUAGE = "*"


@dataclass(frozen=True, slots=True)
class Rule:
    """One compiled term. ``group`` says what it counts for (a theme, a cue, ...)."""

    term: str
    group: str
    weight: float
    pattern: tuple[frozenset[str], ...]  # acceptable keys per token position
    near: int = 0  # >0: two-token proximity rule
    # The position indexed: the most selective token, so phrases starting
    # with "the" or "in" are not tried at every "the" and "in".
    anchor: int = 0
    veto: bool = False  # group is "veto:<family>": cancels overlapping hits
    family: str = ""  # "veto:security" and "security" are both "security"


@dataclass(slots=True)
class RuleIndex:
    """Rules of one language (plus the language-neutral ones), by first-token key."""

    by_key: dict[str, list[Rule]] = field(default_factory=lambda: defaultdict(list))
    prefixes: set[str] = field(default_factory=set)
    suffixes: set[str] = field(default_factory=set)

    def add(self, rule: Rule) -> None:
        for key in rule.pattern[rule.anchor]:
            self.by_key[key].append(rule)
        for keys in rule.pattern:
            for key in keys:
                if key.startswith("p:"):
                    self.prefixes.add(key[2:])
                elif key.startswith("s:"):
                    self.suffixes.add(key[2:])


def compile_term(term: str, lang: str, group: str, weight: float) -> Rule:
    """One term string (grammar above) as a rule for ``lang``."""
    parts = term.split()
    near = 0
    if len(parts) == 3 and parts[1].startswith("~") and parts[1][1:].isdigit():
        near = int(parts[1][1:])
        parts = [parts[0], parts[2]]
    elif any(_SPLITS.search(p) for p in parts):
        # The tokenizer splits "Video-App" and "l'app" into two tokens, so
        # the term does too (before, such terms could never match).
        parts = [piece for p in parts for piece in _pieces(p)]
    compound = lang in COMPOUND_LANGUAGES and len(parts) == 1
    pattern = tuple(_token_keys(p, lang, compound) for p in parts)
    if not all(pattern):
        raise ValueError(f"empty term in {group!r}: {term!r}")
    anchor = max(range(len(parts)), key=lambda k: (len(parts[k].strip("!=*")), -k))
    veto = group.startswith("veto:")
    return Rule(term, group, weight, pattern, near, anchor, veto, group.removeprefix("veto:"))


_SPLITS = re.compile(r"[-'’]")
_WORD = re.compile(r"[^\W_]+")


def _pieces(part: str) -> list[str]:
    """One whitespace-separated term part as the tokens the tokenizer makes of it;
    a marker (``!``, ``=``, ``word*``, ``*word``) stays with its end of the part."""
    head = part[0] if part[:1] in ("!", "=", "*") else ""
    tail = "*" if part.endswith("*") and len(part) > 1 else ""
    words = _WORD.findall(part)
    if len(words) <= 1:
        return [part]
    out = list(words)
    if head in ("!", "="):
        out = [head + w for w in out]
    elif head == "*":
        out[0] = "*" + out[0]
    if tail:
        out[-1] += "*"
    return out


def _token_keys(word: str, lang: str, compound: bool) -> frozenset[str]:
    if word.startswith("!"):
        return frozenset({"f:" + word[1:].lower()})
    if word.startswith("="):
        return _plain_keys(word[1:], lang)
    if word.endswith("*") and len(word) > 1:
        return frozenset({"p:" + word[:-1].lower()})
    if word.startswith("*") and len(word) > 1:
        return frozenset({"s:" + word[1:].lower()})
    keys = set(_plain_keys(word, lang))
    if compound and len(word) >= MIN_COMPOUND_TERM:
        lemma = lemma_of(word, lang)
        keys.update({"p:" + lemma, "s:" + lemma, "p:" + word.lower(), "s:" + word.lower()})
    return frozenset(keys)


def _plain_keys(word: str, lang: str) -> frozenset[str]:
    lower = word.lower()
    return frozenset({"f:" + lower, "l:" + lemma_of(word, lang), "l:" + lower})


def build_indexes(
    terms: Iterable[tuple[str, str, str, float]], languages: Iterable[str]
) -> dict[str, RuleIndex]:
    """Per-language indexes from ``(lang, group, term, weight)``; ``*`` terms go everywhere."""
    by_lang: Mapping[str, list[tuple[str, str, float]]] = defaultdict(list)
    for lang, group, term, weight in terms:
        by_lang[lang].append((group, term, weight))
    indexes: dict[str, RuleIndex] = {}
    for lang in {*languages, *by_lang} - {ANY_LANGUAGE}:
        rows = [*by_lang.get(lang, ()), *by_lang.get(ANY_LANGUAGE, ())]
        indexes[lang] = _index([compile_term(t, lang, g, w) for g, t, w in rows])
    neutral = by_lang.get(ANY_LANGUAGE, ())
    indexes[ANY_LANGUAGE] = _index([compile_term(t, "xx", g, w) for g, t, w in neutral])
    return indexes


def _index(rules: list[Rule]) -> RuleIndex:
    # Function words ("the", "de") and words that are terms on their own
    # ("Amazon", "data") are frequent in text; a phrase is anchored on its most
    # selective word ("Amazon Fire" on "Fire", "the partners" on "partners").
    common = {key for r in rules if len(r.pattern) == 1 for key in r.pattern[0]}
    index = RuleIndex()
    for rule in rules:
        if len(rule.pattern) > 1:
            anchor = min(
                range(len(rule.pattern)),
                key=lambda k: (_is_short(rule.pattern[k]), bool(rule.pattern[k] & common), k),
            )
            rule = replace(rule, anchor=anchor)
        index.add(rule)
    return index


def _is_short(keys: frozenset[str]) -> bool:
    return max(len(k) for k in keys) <= 5  # "f:the", "l:de": function words
