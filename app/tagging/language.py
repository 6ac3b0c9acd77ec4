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
import re
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

from app.tagging.cache import writable_dir
from app.tagging.model import one_blas_thread

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
# The declared-language shortcut counts marker words in a longer sample, cut at a
# space so that no clipped word ("co" of "complaint") counts: in 100 characters a
# headline and lead often hold one marker word only, and the classifier ran for
# two thirds of the peer corpus's entries; in 200 for a fifth. Windows of 150, 200,
# 300 and 400 characters were compared with the classifier on the labelled articles
# (every declared language) and the peer corpus: 200 gave no disagreement, 300 one.
_MARKER_CHARS = 200


@lru_cache(maxsize=1)
def _identifier() -> _Classifier:
    """The classifier, from the cache directory when a previous process left it there.

    numpy's OpenBLAS runs on one thread from here on: the classifier's products are far too
    small to share out, and the idle threads' spinning after each call cost ~1% of the
    tagger's CPU time (the scores are the same, checked on every labelled sample)."""
    one_blas_thread()
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
    """Where the restricted model is kept: in the tagger's cache, per py3langid version
    and language list (None if that directory cannot be written)."""
    parent = writable_dir("langid")
    key = hashlib.sha256(" ".join(DETECTABLE).encode()).hexdigest()[:12]
    return None if parent is None else parent / f"py3langid-{_PY3LANGID_VERSION}-{key}"


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
        # A plain ndarray over the mapping (no copy): indexing a ``np.memmap`` runs its
        # Python-level ``__getitem__`` (~20 us a call, once per text classified).
        ptc = np.load(where / "ptc.npy", mmap_mode="r").view(np.ndarray)
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
    """ISO 639-1 code of ``text``; ``hint`` (or "en") when detection is unsure.

    When the feed declares one of the languages in ``_MARKERS`` and the sample has
    two or more of that language's marker words and none of another language's, the
    declared language is taken without running the classifier (which would say the
    same: checked on every labelled article under every hint, ``tests/tagging``)."""
    fallback = _normalise_hint(hint) or "en"
    sample = text[:_SAMPLE_CHARS].strip()
    if len(sample) < 20:
        return fallback
    if fallback in _MARKERS and hint and _declared_language_agrees(marker_sample(text), fallback):
        return fallback
    return _classified(text, sample, hint, fallback)


def classify_language(text: str, hint: str | None = None) -> str:
    """``detect_language`` without the declared-language shortcut: the classifier decides
    (the tests compare the two; a test cannot patch the shortcut out of compiled code)."""
    fallback = _normalise_hint(hint) or "en"
    sample = text[:_SAMPLE_CHARS].strip()
    if len(sample) < 20:
        return fallback
    return _classified(text, sample, hint, fallback)


def _classified(text: str, sample: str, hint: str | None, fallback: str) -> str:
    lang, confidence = _identifier().classify(sample)
    if confidence < MIN_CONFIDENCE and len(text) > len(sample):
        lang, confidence = _identifier().classify(text[:_LONG_SAMPLE_CHARS])
    if confidence < MIN_CONFIDENCE and hint:
        return fallback
    return "nb" if lang == "no" else str(lang)


# The most frequent words of news prose per language. A word of one language's list
# that is in no other list marks that language ("the", "und", "les", "los", "gli"); a
# word in several ("de", "a", "in", "die") marks none. The other lists (Dutch,
# Portuguese, the Nordic languages, Polish, Czech) only veto: a sample with one of
# their marker words goes to the classifier.
_COMMON = {
    "en": "the and of to in a is that for on with as was it by at from an be are this has "
    "have its which or not but were will would their they he she his her after about than "
    "said says over into out up more new how what who when why can could also been had "
    "come so am man war plus",
    "de": "der die das und in den von zu mit sich des auf für ist im dem nicht ein eine als "
    "auch es an werden aus er hat dass sie nach wird bei einer um am sind noch wie einem "
    "über einen so zum war haben nur oder aber vor zur bis mehr durch man sein wurde sei "
    "will",
    "fr": "de la le et les des en un du une que est pour qui dans a par plus pas au sur ne "
    "se ce il sont avec cette aux ou son sa ses été leur selon mais ont elle nous vous "
    "comme entre après on ma non si ni",
    "es": "de la que el en y a los del se las por un para con no una su al lo como más "
    "pero sus le ya o este porque esta entre cuando muy sin sobre también hasta hay donde "
    "desde todo nos durante todos uno les ni contra otros ese eso ante ellos e esto antes "
    "algunos qué unos otro otras otra él tanto esa estos mucho nada muchos fue ha han "
    "según está es si son",
    "it": "di e il la che è per un in del a non una da sono le si con i gli al della più "
    "come ma anche nel alla se dei delle nella ha lo questo dopo suoi loro degli tra sul "
    "ai cui essere stato già su ne",
    "nl": "de het een van en in is dat op te zijn met voor niet aan er om ook als bij of "
    "door maar over naar dan wordt worden nog uit deze die was heeft hebben",
    "pt": "de a o que e do da em um para é com não uma os no se na por mais as dos como "
    "mas foi ao ele das tem à seu sua ou ser quando muito há nos já está também pelo pela "
    "até isso entre era depois sem mesmo aos ter seus quem nas",
    "nordic": "og i at det er en til på som med har af for ikke den de et var jeg han vi "
    "fra efter om men och att är för inte av sig ett",
    "pl": "i w na z że do się nie to jest o jak po co ale od przez dla jego oraz są za",
    "cs": "a v se na je že s z o do to jako by pro ale jsou jeho které podle tak",
}
_MARKED = {
    lang: frozenset(words.split()).difference(
        *(other.split() for name, other in _COMMON.items() if name != lang)
    )
    for lang, words in _COMMON.items()
}
# Languages the feed may declare for the shortcut (those the rules have terms for).
_MARKERS = {lang: _MARKED[lang] for lang in ("en", "de", "fr", "es", "it")}
_OTHERS = {
    lang: frozenset().union(*(m for other, m in _MARKED.items() if other != lang))
    for lang in _MARKERS
}
# The shortcut's words: letter runs, hyphenated ones kept whole ("Start-up" in German
# prose is no English "up"), an English possessive "'s" left out (the Czech marker
# "s"), and a word in capitals ("AI": Italian "ai"; the "S" of "U.S.") neither counts
# nor vetoes. On the peer corpus those sent 1,300 of the 2,500 entries that reached
# the classifier despite a declared language there, and it gave that language each time.
_WORD = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_POSSESSIVE = re.compile(r"['’]s\b")


def marker_sample(text: str) -> str:
    """The text the shortcut reads: its first ``_MARKER_CHARS`` characters, a word clipped
    at the end left out."""
    if len(text) <= _MARKER_CHARS:
        return text
    sample = text[:_MARKER_CHARS]
    cut = sample.rfind(" ")
    return sample[:cut] if cut > 0 else sample


def _declared_language_agrees(sample: str, lang: str) -> bool:
    words = {w.lower() for w in _WORD.findall(_POSSESSIVE.sub("", sample)) if not w.isupper()}
    return len(words & _MARKERS[lang]) >= 2 and words.isdisjoint(_OTHERS[lang])


def _normalise_hint(hint: str | None) -> str | None:
    """ "de-AT", "en_US", "EN" -> "de", "en", "en"."""
    if not hint:
        return None
    code = hint.strip().replace("_", "-").split("-", 1)[0].lower()
    return code if len(code) == 2 and code.isalpha() else None
