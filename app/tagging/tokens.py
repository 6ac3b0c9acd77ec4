"""Tokens with offsets, sentence and paragraph numbers, and cached lemmas.

A token is a run of letters or digits; hyphens, apostrophes and dots split
tokens, so "Amazon-Kooperation" yields "Amazon" and "Kooperation" and the rules
see both parts. Closed compounds ("Kongressanhörung") stay one token and are
handled by the prefix/suffix keys of the rule index, not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Token:
    start: int
    end: int
    text: str
    sentence: int  # index over the whole field
    paragraph: int


@lru_cache(maxsize=200_000)
def lemma_of(word: str, lang: str) -> str:
    """Lower-cased lemma of ``word`` in ``lang`` (the word itself when unknown)."""
    if lang not in LEMMA_LANGUAGES:
        return word.lower()
    return str(simplemma.lemmatize(word, lang=lang)).lower()


def tokenize(text: str) -> list[Token]:
    """Tokens of ``text`` with sentence and paragraph indices."""
    tokens: list[Token] = []
    sentence = 0
    for paragraph, (p_start, p_text) in enumerate(_paragraph_spans(text)):
        for s_start, s_end in _sentence_spans(p_text):
            for m in _TOKEN.finditer(p_text, s_start, s_end):
                start = p_start + m.start()
                tokens.append(Token(start, p_start + m.end(), m.group(), sentence, paragraph))
            sentence += 1
    return tokens


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
