"""Language detection with py3langid's bundled model (nothing is downloaded).

The classifier is restricted to the European languages a newsroom feed list is
likely to carry: a 97-language model guessing Luxembourgish or Latin for a
short German headline helps nobody. When the classifier is unsure, the feed's
own language hint wins.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Protocol, cast

from py3langid.langid import MODEL_FILE, LanguageIdentifier

DETECTABLE = [
    "en",
    "de",
    "fr",
    "es",
    "it",
    "pt",
    "nl",
    "pl",
    "sv",
    "da",
    "no",
    "fi",
    "cs",
    "sk",
    "hu",
    "ro",
    "el",
    "tr",
    "ru",
    "uk",
    "bg",
    "hr",
    "sl",
    "et",
    "lv",
    "lt",
]
MIN_CONFIDENCE = 0.9
# Headline and lead are enough for a confident guess on news prose, and the
# classifier's per-byte scan is a third of the tagging time; a longer sample
# is tried only when the short one is unsure.
_SAMPLE_CHARS = 100
_LONG_SAMPLE_CHARS = 1000


class _Identifier(Protocol):
    def classify(self, text: str) -> tuple[str, float]: ...


@lru_cache(maxsize=1)
def _identifier() -> _Identifier:
    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(DETECTABLE)
    return cast(_Identifier, ident)


def detect_language(text: str, hint: str | None = None) -> str:
    """ISO 639-1 code of ``text``; ``hint`` (or "en") when detection is unsure."""
    fallback = _normalise_hint(hint) or "en"
    sample = text[:_SAMPLE_CHARS].strip()
    if len(sample) < 20:
        return fallback
    lang, confidence = _identifier().classify(sample)
    if confidence < MIN_CONFIDENCE and len(text) > len(sample):
        lang, confidence = _identifier().classify(text[:_LONG_SAMPLE_CHARS])
    if confidence < MIN_CONFIDENCE and hint:
        return fallback
    return "nb" if lang == "no" else str(lang)


def _normalise_hint(hint: str | None) -> str | None:
    """ "de-AT", "en_US", "EN" -> "de", "en", "en"."""
    if not hint:
        return None
    code = hint.strip().replace("_", "-").split("-", 1)[0].lower()
    return code if len(code) == 2 and code.isalpha() else None
