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

import simplemma

_TOKEN = re.compile(r"[^\W_]+")
# A sentence ends at . ! ? ; followed by space and something that can start a
# sentence; single capitals before a dot ("EE. UU.", "z. B.") are not ends.
_SENTENCE_END = re.compile(r"(?<![\s.][A-Za-z])(?<![\s.][A-Z][a-z])[.!?;:]+[\"'”»)]*\s+")
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
    out = Tokens()
    sentence = 0
    for paragraph, (p_start, p_text) in enumerate(_paragraph_spans(text)):
        for s_start, s_end in _sentence_spans(p_text):
            found = list(_TOKEN.finditer(p_text, s_start, s_end))
            out.words += [m.group() for m in found]
            out.starts += [p_start + m.start() for m in found]
            out.sentences += [sentence] * len(found)
            out.paragraphs += [paragraph] * len(found)
            sentence += 1
    return out


def _paragraph_spans(text: str) -> list[tuple[int, str]]:
    spans: list[tuple[int, str]] = []
    pos = 0
    for part in text.split("\n\n"):
        if part.strip():
            spans.append((pos, part))
        pos += len(part) + 2
    return spans


def _sentence_spans(paragraph: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    start = 0
    for m in _SENTENCE_END.finditer(paragraph):
        spans.append((start, m.start() + 1))
        start = m.end()
    if start < len(paragraph):
        spans.append((start, len(paragraph)))
    return spans
