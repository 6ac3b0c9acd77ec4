"""Language detection with py3langid's bundled model (nothing is downloaded).

The classifier is restricted to the European languages a newsroom feed list is
likely to carry: a 97-language model guessing Luxembourgish or Latin for a
short German headline helps nobody. When the classifier is unsure, the feed's
own language hint wins.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import mmap
import os
import shutil
import uuid
from array import array
from collections import Counter
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from app.tagging.lemmas import cache_root

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
    """The classifier, from the cache directory when a previous process left it there."""
    where = _cache_path()
    if where is not None and where.exists():
        try:
            return _Classifier.load(where)
        except (OSError, EOFError, ValueError, KeyError, TypeError):
            shutil.rmtree(where, ignore_errors=True)  # damaged: built and saved anew
    classifier = _Classifier.build()
    if where is not None:
        with contextlib.suppress(OSError):
            classifier.save(where)
    return classifier


def _cache_path() -> Path | None:
    """Where the restricted model is kept: beside the lemma tries, per py3langid version
    and language list (None if that directory cannot be written)."""
    key = hashlib.sha256(" ".join(DETECTABLE).encode()).hexdigest()[:12]
    where = cache_root() / "langid" / f"py3langid-{_PY3LANGID_VERSION}-{key}"
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return where if os.access(where.parent, os.W_OK | os.X_OK) else None


_PY3LANGID_VERSION = version("py3langid")
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

    def __init__(
        self,
        nextmove: array[int] | memoryview,
        rowbase: list[int],
        output: list[int],
        ptc: np.ndarray[Any, Any],
        pc: np.ndarray[Any, Any],
        classes: list[str],
        alias_pairs: list[tuple[int, int]],
    ) -> None:
        self._nm = nextmove
        self._rowbase = rowbase
        self._out = output
        self._walks: dict[tuple[int, bytes], tuple[int, tuple[int, ...]]] = {}
        self._ptc = ptc
        self._pc = pc
        self._classes = classes
        self._alias_pairs = alias_pairs

    @classmethod
    def build(cls) -> _Classifier:
        """From py3langid's bundled model (~0.8 s: it decompresses and converts all 97
        languages' tables, ~40 MB more memory for a moment), restricted to ``DETECTABLE``."""
        ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
        ident.set_languages(DETECTABLE)
        if not ident._norm_probs or ident.min_confidence is not None:
            raise ValueError("expects norm_probs=True and no min_confidence")
        nextmove = ident.tk_nextmove
        if not isinstance(nextmove, array):
            nextmove = array("I", nextmove)
        return cls(
            nextmove,
            list(ident._rowbase),
            list(ident.tk_output),
            # float16 -> float32 is exact, and the product of float32 with float16
            # runs in float32 anyway: the same scores, without a cast per call.
            ident.nb_ptc.astype(np.float32),
            ident.nb_pc,
            list(ident.nb_classes),
            list(ident._alias_pairs),
        )

    def save(self, where: Path) -> None:
        """Write the tables into ``where`` (a directory made whole or not at all)."""
        part = where.with_name(f".{where.name}.{os.getpid()}.{uuid.uuid4().hex}")
        part.mkdir()
        nextmove = memoryview(self._nm)
        try:
            with open(part / "nextmove.bin", "wb") as out:
                out.write(nextmove.cast("B"))
            with open(part / "rowbase.bin", "wb") as out:
                array("i", self._rowbase).tofile(out)
            with open(part / "output.bin", "wb") as out:
                array("i", self._out).tofile(out)
            np.save(part / "ptc.npy", self._ptc)
            np.save(part / "pc.npy", self._pc)
            meta = {
                "classes": self._classes,
                "alias_pairs": self._alias_pairs,
                "nextmove": [nextmove.format, len(nextmove)],
                "rows": len(self._rowbase),
            }
            (part / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
            os.rename(part, where)  # fails if another process got there first: theirs stays
        finally:
            shutil.rmtree(part, ignore_errors=True)

    @classmethod
    def load(cls, where: Path) -> _Classifier:
        """The tables ``save`` wrote: read straight into their final form (~20 ms)."""
        meta = json.loads((where / "meta.json").read_text(encoding="utf-8"))
        typecode, size = meta["nextmove"]
        # Mapped, not read (~40 MB): the processes that load the model share its pages,
        # and loading it costs no time.
        with open(where / "nextmove.bin", "rb") as f:
            mapped = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        nextmove = memoryview(mapped).cast(typecode)
        if len(nextmove) != size:
            raise ValueError(f"nextmove.bin holds {len(nextmove)} states, not {size}")
        rows = meta["rows"]
        rowbase: array[int] = array("i")
        output: array[int] = array("i")
        with open(where / "rowbase.bin", "rb") as f:
            rowbase.fromfile(f, rows)
        with open(where / "output.bin", "rb") as f:
            output.fromfile(f, rows)
        ptc = np.load(where / "ptc.npy", mmap_mode="r")
        pc = np.load(where / "pc.npy")
        return cls(
            nextmove,
            rowbase.tolist(),
            output.tolist(),
            ptc,
            pc,
            [str(c) for c in meta["classes"]],
            [(int(a), int(b)) for a, b in meta["alias_pairs"]],
        )

    def classify(self, text: str) -> tuple[str, float]:
        data = LanguageIdentifier._encode(text)
        visits = self._visit_counts(data)
        if visits:
            # py3langid's ``_sparse_score``: NB log-posterior from sparse counts.
            idx = np.fromiter(visits.keys(), dtype=np.intp, count=len(visits))
            counts = np.fromiter(visits.values(), dtype=np.float32, count=len(visits))
            scores = np.log1p(counts) @ self._ptc[idx] + self._pc
        else:
            scores = np.full(len(self._classes), 0.0, dtype=np.float32)
        # The rest is py3langid's ``_decide`` with norm_probs=True, verbatim.
        scores *= 1.0 / math.sqrt(len(data) or 1)
        np.exp(scores - scores.max(), out=scores)
        scores /= scores.sum()
        for i, j in self._alias_pairs:
            scores[i] += scores[j]
            scores[j] = 0.0
        best = int(scores.argmax())
        return self._classes[best], float(scores[best])

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
