"""Language detection with py3langid's bundled model (nothing is downloaded).

The classifier is restricted to the European languages a newsroom feed list is
likely to carry: a 97-language model guessing Luxembourgish or Latin for a
short German headline helps nobody. When the classifier is unsure, the feed's
own language hint wins.
"""

from __future__ import annotations

import math
from collections import Counter
from functools import lru_cache
from typing import Any

import numpy as np
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


@lru_cache(maxsize=1)
def _identifier() -> _Classifier:
    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(DETECTABLE)
    classifier = _Classifier(ident)
    # Free what ``_Classifier`` never reads: the 97-language float16 table kept for a
    # later ``set_languages`` (~19 MB) and the float16 subset it copied to float32 (~5
    # MB). Every parse worker holds this model, so it counts twice or three times.
    ident._full_model = None
    ident.nb_ptc = None
    return classifier


_SPACE = 0x20
_WALK_CACHE_LIMIT = 200_000


class _Classifier:
    """py3langid's ``classify`` with its byte-by-byte DFA walk memoised per word.

    The walk (``visit_counts``) is a Python loop over every byte and was most
    of the detection time. Its state after a chunk of bytes is a function of
    the state before and the chunk, and so are the features it emits there: a
    walk over space-separated words, each looked up once per (state, word),
    emits the same feature sequence, so the counts, their order, the float32
    scores and the decision are exactly py3langid's (``tests/tagging``
    compares the two on every dev-set sample).
    """

    def __init__(self, ident: Any) -> None:
        self._ident = ident
        self._nm = ident.tk_nextmove
        self._rowbase = ident._rowbase
        self._out = ident.tk_output
        self._walks: dict[tuple[int, bytes], tuple[int, tuple[int, ...]]] = {}
        # float16 -> float32 is exact, and the product of float32 with float16
        # runs in float32 anyway: the same scores, without a cast per call.
        self._ptc = ident.nb_ptc.astype(np.float32)
        self._pc = ident.nb_pc
        if not ident._norm_probs or ident.min_confidence is not None:
            raise ValueError("expects norm_probs=True and no min_confidence")

    def classify(self, text: str) -> tuple[str, float]:
        ident = self._ident
        data = ident._encode(text)
        visits = self._visit_counts(data)
        if visits:
            # py3langid's ``_sparse_score``: NB log-posterior from sparse counts.
            idx = np.fromiter(visits.keys(), dtype=np.intp, count=len(visits))
            counts = np.fromiter(visits.values(), dtype=np.float32, count=len(visits))
            scores = np.log1p(counts) @ self._ptc[idx] + self._pc
        else:
            scores = np.full(len(ident.nb_classes), 0.0, dtype=np.float32)
        # The rest is py3langid's ``_decide`` with norm_probs=True, verbatim.
        scores *= 1.0 / math.sqrt(len(data) or 1)
        np.exp(scores - scores.max(), out=scores)
        scores /= scores.sum()
        for i, j in ident._alias_pairs:
            scores[i] += scores[j]
            scores[j] = 0.0
        best = int(scores.argmax())
        return ident.nb_classes[best], float(scores[best])

    def _visit_counts(self, data: bytes) -> Counter[int] | None:
        walks = self._walks
        state = 0
        found: list[int] = []
        chunks = data.split(b" ")
        last = len(chunks) - 1
        for k, chunk in enumerate(chunks):
            key = (state, chunk) if k < last else (-1 - state, chunk)
            walked = walks.get(key)
            if walked is None:
                walked = self._walk(state, chunk, k < last)
                if len(walks) < _WALK_CACHE_LIMIT:
                    walks[key] = walked
            state, features = walked
            found += features
        return Counter(found) if found else None

    def _walk(self, state: int, chunk: bytes, space: bool) -> tuple[int, tuple[int, ...]]:
        nm, rowbase, out = self._nm, self._rowbase, self._out
        features = []
        for letter in (*chunk, _SPACE) if space else chunk:
            state = nm[rowbase[state] + letter]
            f = out[state]
            if f >= 0:
                features.append(f)
        return state, tuple(features)


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
