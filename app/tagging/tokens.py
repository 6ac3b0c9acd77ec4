"""Tokens with offsets, sentence and paragraph numbers, and cached lemmas.

A token is a run of letters or digits; hyphens, apostrophes and dots split
tokens, so "Amazon-Kooperation" yields "Amazon" and "Kooperation" and the rules
see both parts. Closed compounds ("Kongressanhörung") stay one token and are
handled by the prefix/suffix keys of the rule index, not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate, compress, islice
from types import FunctionType

from app.tagging.lemmas import backend

# Splitting keeps the tokens at odd positions and what lies between them at
# even ones: one C-level pass instead of a match object per token. A token is a run of
# word characters other than "_"; without a "_" in the text that is a run of ``\w``,
# which the regex engine tests faster than the class, and in ASCII text a run of
# [A-Za-z0-9] (the same splits, ~30-40% less time).
_SPLIT = re.compile(r"([^\W_]+)")
_SPLIT_WORD = re.compile(r"(\w+)")
_SPLIT_ASCII = re.compile(r"([A-Za-z0-9]+)")
# A paragraph break, or a sentence end: . ! ? ; : (and closing quotes or
# brackets) before white space.
_BOUNDARY = re.compile(r"\n\n|[.!?;:][\"'”»)\]]*(?=\s)")
LEMMA_LANGUAGES = frozenset(
    [
        "bg",
        "ca",
        "cs",
        "cy",
        "da",
        "de",
        "el",
        "en",
        "es",
        "et",
        "fa",
        "fi",
        "fr",
        "ga",
        "gd",
        "gl",
        "gv",
        "hu",
        "hy",
        "id",
        "is",
        "it",
        "ka",
        "la",
        "lb",
        "lt",
        "lv",
        "mk",
        "ms",
        "nb",
        "nl",
        "nn",
        "pl",
        "pt",
        "ro",
        "ru",
        "se",
        "sk",
        "sl",
        "sq",
        "sr",
        "sv",
        "sw",
        "tl",
        "tr",
        "uk",
    ]
)


@dataclass(slots=True)
class Tokens:
    """Tokens of one text as parallel lists (cheaper than one object per token)."""

    words: list[str] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)  # a token ends at start + len(word)
    sentences: list[int] = field(default_factory=list)  # index over the whole text
    paragraphs: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.words)


@lru_cache(maxsize=200_000)
def lemma_of(word: str, lang: str) -> str:
    """Lower-cased lemma of ``word`` in ``lang`` (the word itself when unknown).

    simplemma's dictionaries through ``lemmas.backend()``: tries cached on disk (the
    ``low_memory`` backend where no cache can be kept), the same lemmas as the default
    backend (checked on every word of the labelled set) without decoding a dict per
    process; the cache above makes words seen before free."""
    if lang not in LEMMA_LANGUAGES:
        return word.lower()
    return backend().lemmatize(word, lang).lower()


@lru_cache(maxsize=50_000)
def is_known(word: str, lang: str) -> bool:
    """Is ``word`` in the language's lemma dictionary (as a form or a lemma)? The same
    answers as simplemma's default backend (``tests/tagging``), from ``lemmas.backend()``."""
    return lang in LEMMA_LANGUAGES and backend().is_known(word, lang)


def tokenize(text: str) -> Tokens:
    """Tokens of ``text`` with sentence and paragraph indices."""
    if text.isascii():
        pattern = _SPLIT_ASCII
    elif "_" in text:
        pattern = _SPLIT
    else:
        pattern = _SPLIT_WORD
    parts = _split_by_spaces(text, pattern) if COMPILED else pattern.split(text)
    words = parts[1::2]
    n = len(words)
    if COMPILED:  # a plain loop: native integer arithmetic
        starts = [0] * n
        at = 0
        for k in range(n):
            at += len(parts[2 * k])
            starts[k] = at
            at += len(parts[2 * k + 1])
    else:  # the C-level chain beats that loop in Python
        starts = list(islice(accumulate(map(len, parts)), 0, 2 * n, 2))
    out = Tokens(words, starts)
    sentence = paragraph = done = 0
    # Boundaries are few: the Python work is per boundary, not per token.
    cuts = _cuts_by_loop(parts, n) if COMPILED else _cuts(parts[0::2], words)
    for k, new_paragraph in cuts:
        out.sentences += [sentence] * (k - done)
        out.paragraphs += [paragraph] * (k - done)
        done = k
        sentence += 1
        paragraph += new_paragraph
    out.sentences += [sentence] * (n - done)
    out.paragraphs += [paragraph] * (n - done)
    return out


def _split_by_spaces(text: str, pattern: re.Pattern[str]) -> list[str]:
    """``pattern.split(text)`` (gaps at even positions, tokens at odd ones), from the text's
    space-separated chunks: a chunk of token characters only (most words), or one run of
    them between punctuation, is one token without the regex engine; the others ("U.S.",
    hyphens, line breaks inside) are split by it.

    Compiled, this loop runs natively and takes about half the regex engine's time for the
    whole text; as Python it takes longer, so the sources split with the regex alone
    (``COMPILED``). Both give the same list (``tests/tagging``)."""
    parts: list[str] = []
    gap = ""
    chunks = text.split(" ")
    for i in range(len(chunks)):
        chunk = chunks[i]
        if i:
            gap += " "
        if chunk.isalnum():  # every character is a token character ([^\W_])
            parts.append(gap)
            parts.append(chunk)
            gap = ""
        elif chunk:
            # Most such chunks are one token between punctuation ("said.", "(Reuters)"):
            # no regex needed for those either.
            a, b = 0, len(chunk)
            while a < b and not chunk[a].isalnum():
                a += 1
            while b > a and not chunk[b - 1].isalnum():
                b -= 1
            if a == b:  # no token character at all
                gap += chunk
            elif chunk[a:b].isalnum():
                parts.append(gap + chunk[:a])
                parts.append(chunk[a:b])
                gap = chunk[b:]
            else:
                sub = pattern.split(chunk)
                parts.append(gap + sub[0])
                for j in range(1, len(sub) - 1):
                    parts.append(sub[j])
                gap = sub[-1]
    parts.append(gap)
    return parts


# Whether this module runs compiled (app/tagging/accel.py): mypyc's functions are not
# Python function objects.
COMPILED = not isinstance(_split_by_spaces, FunctionType)

_SENTENCE_END = 1
_PARAGRAPH_END = 2


class _GapKinds(dict[str, int]):
    """What the text between two tokens ends: a sentence, a paragraph, nothing.

    Every character ``_BOUNDARY`` matches (and its look-ahead white space) is a
    non-token character, so a boundary lies wholly inside one gap between
    tokens, and the next token is the one after that gap. Gaps repeat (" ",
    ", ", ". "), so each distinct gap is scanned once, not once per text.
    """

    def __missing__(self, gap: str) -> int:
        kind = 0
        for m in _BOUNDARY.finditer(gap):
            kind |= _PARAGRAPH_END if m.group() == "\n\n" else _SENTENCE_END
        if len(self) < _GAP_CACHE_LIMIT:
            self[gap] = kind
        return kind


_GAP_CACHE_LIMIT = 50_000
_GAP_KINDS = _GapKinds()


def _cuts(gaps: list[str], words: list[str]) -> list[tuple[int, bool]]:
    """(index of the first token of a new sentence, whether it opens a paragraph).

    ``gaps[k]`` is the text before token ``k`` (``gaps[0]`` before the first).
    """
    kinds = list(map(_GAP_KINDS.__getitem__, gaps[1 : len(words)]))
    cuts: list[tuple[int, bool]] = []
    for k in compress(range(1, len(words)), kinds):
        if kinds[k - 1] & _PARAGRAPH_END:
            cuts.append((k, True))
        elif not _is_abbreviation(words[k - 1]):
            cuts.append((k, False))
    return cuts


def _cuts_by_loop(parts: list[str], n: int) -> list[tuple[int, bool]]:
    """``_cuts(parts[0::2], parts[1::2])`` over the split's parts in one loop (gap ``k`` is
    ``parts[2k]``, the token before it ``parts[2k - 1]``): compiled, native code."""
    kinds = _GAP_KINDS
    cuts: list[tuple[int, bool]] = []
    for k in range(1, n):
        kind = kinds[parts[2 * k]]
        if kind & _PARAGRAPH_END:
            cuts.append((k, True))
        elif kind and not _is_abbreviation(parts[2 * k - 1]):
            cuts.append((k, False))
    return cuts


def _is_abbreviation(word: str) -> bool:
    """ "U.S.", "EE. UU.", "z. B.", "Mr.", German ordinals ("am 5. April") end no sentence."""
    return len(word) == 1 or (len(word) == 2 and (word[0].isupper() or word.isdigit()))
