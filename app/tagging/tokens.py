"""Tokens with offsets, sentence and paragraph numbers, and cached lemmas.

A token is a run of letters or digits; hyphens, apostrophes and dots split
tokens, so "Amazon-Kooperation" yields "Amazon" and "Kooperation" and the rules
see both parts. Closed compounds ("Kongressanhörung") stay one token and are
handled by the prefix/suffix keys of the rule index, not here.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import accumulate

import simplemma

# Splitting keeps the tokens at odd positions and what lies between them at
# even ones: one C-level pass instead of a match object per token.
_SPLIT = re.compile(r"([^\W_]+)")
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
    """Lower-cased lemma of ``word`` in ``lang`` (the word itself when unknown)."""
    if lang not in LEMMA_LANGUAGES:
        return word.lower()
    return str(simplemma.lemmatize(word, lang=lang)).lower()


def tokenize(text: str) -> Tokens:
    """Tokens of ``text`` with sentence and paragraph indices."""
    parts = _SPLIT.split(text)
    words = parts[1::2]
    starts = list(accumulate(map(len, parts)))[0::2][: len(words)]
    out = Tokens(words, starts)
    sentence = paragraph = done = 0
    # Boundaries are few: the Python work is per boundary, not per token.
    for k, new_paragraph in _cuts(text, words, starts):
        out.sentences += [sentence] * (k - done)
        out.paragraphs += [paragraph] * (k - done)
        done = k
        sentence += 1
        paragraph += new_paragraph
    out.sentences += [sentence] * (len(words) - done)
    out.paragraphs += [paragraph] * (len(words) - done)
    return out


def _cuts(text: str, words: list[str], starts: list[int]) -> list[tuple[int, bool]]:
    """(index of the first token of a new sentence, whether it opens a paragraph)."""
    cuts: dict[int, bool] = {}
    for m in _BOUNDARY.finditer(text):
        k = bisect_left(starts, m.end())
        if k == 0 or k >= len(words):
            continue
        new_paragraph = m.group() == "\n\n"
        if not new_paragraph and _is_abbreviation(words[k - 1]):
            continue
        cuts[k] = cuts.get(k, False) or new_paragraph
    return sorted(cuts.items())


def _is_abbreviation(word: str) -> bool:
    """ "U.S.", "EE. UU.", "z. B.", "Mr.", German ordinals ("am 5. April") end no sentence."""
    return len(word) == 1 or (len(word) == 2 and (word[0].isupper() or word.isdigit()))
