"""The learned layer: L2 logistic regression over ``features``, one per target.

Targets are relevance and each theme. Training (``fit``) is deterministic:
Newton's method on the penalised log-likelihood from zero weights, solved in
the smaller of feature and sample space, no randomness anywhere. The trained
model is a JSON file shipped in the package (``model.json``); at run time a
prediction is a sparse dot product, no numpy needed.
"""

from __future__ import annotations

import ctypes
import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from math import exp
from pathlib import Path
from sys import intern
from typing import Any

from app.tagging.features import Features
from app.tagging.taxonomy import DEFAULT_MODEL as DEFAULT_MODEL  # its old home, still exported
from app.tagging.taxonomy import THEMES
from app.tagging.tokens import COMPILED

TARGETS = ("relevance", *THEMES)
L2 = 1.0  # penalty on every weight but the bias (chosen by cross-validation, docs/tagger.md)
MIN_DF = 3  # a word is a feature when at least this many training articles contain it
# Words in more than this share of one language's articles (function words) are
# features but never shown as evidence: they help in cross-validation (they tell
# language, form and register apart) but explain nothing to a reader.
QUIET_DF = 0.3
MIN_WORD = 4  # letters
# Targets whose regression also weighs words (the others: rule features only).
WORD_TARGETS = frozenset(TARGETS)


@dataclass(frozen=True, slots=True)
class Target:
    bias: float
    weights: dict[str, float]  # feature name -> weight
    words: dict[str, float]  # lemma -> weight
    threshold: float  # probability from which the label is given


class Model:
    """The targets' regressions, packed for one pass over an article's features."""

    __slots__ = (
        "_allowed",
        "_biases",
        "_features",
        "_sides",
        "_vocab",
        "_words",
        "quiet",
        "targets",
        "version",
    )

    def __init__(
        self, targets: dict[str, Target], version: str, quiet: frozenset[str] = frozenset()
    ) -> None:
        self.targets = targets
        self.quiet = quiet  # words weighed but never shown as evidence
        self.version = version  # content hash: changes whenever weights or thresholds change
        # Names and lemmas interned, as the matcher's lemmas and the features' literal names
        # are: a look-up of an article's word then matches by identity and does not read
        # the key string, which is cold in cache by the time an article gets here (the
        # model's tables are touched ~400 times per article).
        names = sorted({intern(n) for t in targets.values() for n in t.weights})
        lemmas = sorted({intern(w) for t in targets.values() for w in t.words})
        order = [targets[k] for k in TARGETS]
        self._biases = [t.bias for t in order]
        self._features = {n: tuple(t.weights.get(n, 0.0) for t in order) for n in names}
        self._words = {w: tuple(t.words.get(w, 0.0) for t in order) for w in lemmas}
        self._vocab = frozenset(lemmas)
        # Per target, the shown words pushing [toward no, toward yes]: each word's place
        # in its side's order (0 = the largest (|weight|, word)), and that order, so an
        # article's words rank by comparing small ints, not (float, str) tuples.
        self._sides = {
            name: tuple(
                _ranked(
                    [
                        (abs(v), intern(w))
                        for w, v in t.words.items()
                        if (v > 0) is yes and v and w not in quiet
                    ]
                )
                for yes in (False, True)
            )
            for name, t in targets.items()
        }
        # (target, sign, allowed) -> {feature: sign × weight} of the allowed features.
        self._allowed: dict[tuple[str, int, Callable[[str], bool]], dict[str, float]] = {}

    def known(self, f: Features) -> frozenset[str]:
        """The article's words the model weighs (pass to ``scores`` and ``contributions``
        so that the vocabulary is intersected once per article, not once per call)."""
        return f.words & self._vocab

    def scores(self, f: Features, known: frozenset[str] | None = None) -> dict[str, float]:
        """Probability per target (``TARGETS`` order); ``known`` is ``self.known(f)``."""
        r, s, g, m = self._biases
        table = self._features
        for name, value in f.values.items():
            w = table.get(name)
            if w is not None:
                r += w[0] * value
                s += w[1] * value
                g += w[2] * value
                m += w[3] * value
        words = self._words
        for lemma in self.known(f) if known is None else known:
            w = words[lemma]
            r += w[0]
            s += w[1]
            g += w[2]
            m += w[3]
        return dict(zip(TARGETS, map(_sigmoid, (r, s, g, m)), strict=True))

    def score(self, target: str, f: Features) -> float:
        return self.scores(f)[target]

    def contributions(
        self,
        target: str,
        f: Features,
        allowed: Callable[[str], bool],
        *,
        top: int,
        sign: int,
        known: frozenset[str] | None = None,
    ) -> list[tuple[float, str]]:
        """The ``top`` (sign × weight × value, feature) of the ``allowed`` features
        present, largest first; words are named "w:lemma", quiet words left out.
        ``known`` is ``self.known(f)`` (the same words, fewer to look through)."""
        table = self._allowed.get((target, sign, allowed))
        if table is None:
            weights = self.targets[target].weights
            # sign × weight × value multiplies left to right: (sign × weight) × value.
            table = {n: sign * w for n, w in weights.items() if allowed(n)}
            if len(self._allowed) < _ALLOWED_TABLES:  # callers pass a few fixed callables
                self._allowed[(target, sign, allowed)] = table
        values = f.values
        # Through the smaller of the two (a theme allows a few features): the products
        # are the same, and so is their order after the sort below (names are unique).
        if len(table) < len(values):
            out = [(sw * v, n) for n, sw in table.items() if (v := values.get(n))]
        else:
            out = [(sw * v, n) for n, v in values.items() if v and (sw := table.get(n)) is not None]
        # Words toward this side (precomputed, quiet ones left out) present in the article,
        # the strongest ``top`` by their place in the side's order (sorted()[:top] is
        # what heapq.nlargest promises, and the C sort of small ints is fastest).
        places, order = self._sides[target][sign > 0]
        words = self.known(f) if known is None else known
        if COMPILED:
            picked = _places_by_loop(places, words)[:top]
        else:
            picked = _places_by_sets(places, words)[:top]
        out += [(strength, "w:" + w) for strength, w in map(order.__getitem__, picked)]
        out.sort(reverse=True)
        return out[:top]


_ALLOWED_TABLES = 64


def _places_by_sets(places: dict[str, int], words: frozenset[str]) -> list[int]:
    """The places of the ``words`` that are in ``places``, in order: at C level (sources)."""
    return sorted(map(places.__getitem__, places.keys() & words))


def _places_by_loop(places: dict[str, int], words: frozenset[str]) -> list[int]:
    """``_places_by_sets`` in one loop over the words: compiled, that is native code and
    makes no intermediate set."""
    found: list[int] = []
    for word in words:
        place = places.get(word)
        if place is not None:
            found.append(place)
    found.sort()
    return found


def _ranked(side: list[tuple[float, str]]) -> tuple[dict[str, int], list[tuple[float, str]]]:
    """A side's words by place (0 = the largest (strength, word)), and the order itself."""
    order = sorted(side, reverse=True)
    return {w: k for k, (_, w) in enumerate(order)}, order


def _sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + exp(-z))
    e = exp(z)
    return e / (1.0 + e)


def vocabulary(rows: Sequence[Features]) -> tuple[list[str], frozenset[str]]:
    """Words in at least ``MIN_DF`` articles, and those of them too common to show."""
    df: Counter[str] = Counter()
    by_lang: dict[str, Counter[str]] = defaultdict(Counter)
    docs: Counter[str] = Counter()
    for f in rows:
        words = [w for w in f.words if len(w) >= MIN_WORD and w.isalpha()]
        df.update(words)
        by_lang[f.language].update(words)
        docs[f.language] += 1
    vocab = sorted(w for w, n in df.items() if n >= MIN_DF)
    quiet = frozenset(
        w
        for lang, counts in by_lang.items()
        for w, n in counts.items()
        if w in df and df[w] >= MIN_DF and n > QUIET_DF * docs[lang]
    )
    return vocab, quiet


def fit(
    rows: Sequence[Features],
    labels: Mapping[str, Sequence[bool]],
    thresholds: dict[str, float],
    l2: float = L2,
) -> Model:
    """One regression per target over the rows' features and a vocabulary of theirs."""
    import numpy as np  # training only: tagging never imports numpy

    one_blas_thread()
    names = sorted({n for f in rows for n in f.values})
    vocab, quiet = vocabulary(rows)
    full = _matrix(rows, names, vocab)
    plain = full[:, : 1 + len(names)]
    gram = (full / _penalty(full.shape[1], l2)) @ full.T if full.shape[1] > full.shape[0] else None
    targets = {}
    for target in TARGETS:
        y = np.array(labels[target], dtype=float)
        if target in WORD_TARGETS:
            w = _newton(full, y, l2, gram)
        else:
            w = np.concatenate([_newton(plain, y, l2), np.zeros(len(vocab))])
        targets[target] = Target(
            bias=float(w[0]),
            weights={n: float(v) for n, v in zip(names, w[1 : 1 + len(names)], strict=True) if v},
            words={n: float(v) for n, v in zip(vocab, w[1 + len(names) :], strict=True) if v},
            threshold=thresholds.get(target, 0.5),
        )
    return Model(targets, _version(targets, quiet), quiet)


def _matrix(rows: Sequence[Features], names: list[str], vocab: list[str]) -> Any:
    import numpy as np

    index = {n: k + 1 for k, n in enumerate(names)}
    words = {w: k + 1 + len(names) for k, w in enumerate(vocab)}
    x = np.zeros((len(rows), 1 + len(names) + len(vocab)))
    x[:, 0] = 1.0
    for i, f in enumerate(rows):
        for n, v in f.values.items():
            if n in index:
                x[i, index[n]] = v
        for w in f.words:
            k = words.get(w)
            if k is not None:
                x[i, k] = 1.0
    return x


def _newton(x: Any, y: Any, l2: float, gram: Any = None, iterations: int = 30) -> Any:
    """Penalised logistic regression by Newton steps (bias penalised only nominally).

    With more features than samples each step is solved in sample space
    (Woodbury: (A + XᵀHX)⁻¹g with A diagonal needs an n×n solve, and
    ``gram`` = X A⁻¹ Xᵀ is the same for every step and every target).
    """
    import numpy as np

    n, p = x.shape
    penalty = _penalty(p, l2)
    w = np.zeros(p)
    if p > n and gram is None:
        gram = (x / penalty) @ x.T
    for _ in range(iterations):
        z = x @ w
        prob = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        grad = x.T @ (prob - y) + penalty * w
        h = prob * (1.0 - prob)
        if p <= n:
            step = np.linalg.solve(x.T @ (x * h[:, None]) + np.diag(penalty), grad)
        else:
            s = np.sqrt(h)
            ag = grad / penalty
            m = np.eye(n) + s[:, None] * gram * s[None, :]
            step = ag - (x.T @ (s * np.linalg.solve(m, s * (x @ ag)))) / penalty
        w -= step
        if float(np.max(np.abs(step))) < 1e-7:
            break
    return w


def one_blas_thread() -> None:
    """Run numpy's OpenBLAS on one thread (best effort, Linux).

    The matrices here are small (hundreds of rows): BLAS threads only fight
    each other and other processes (a 301×301 solve took 160 ms on a busy
    2-core machine instead of 2), and one thread also fixes the order of
    floating-point sums, so training is reproducible to the last bit.
    """
    try:
        with open("/proc/self/maps", encoding="utf-8") as fh:
            paths = {line.split()[-1] for line in fh if "openblas" in line and ".so" in line}
    except OSError:
        return
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for symbol in _SET_THREADS:
            setter = getattr(lib, symbol, None)
            if setter is not None:
                setter(1)
                return


_SET_THREADS = (
    "scipy_openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "openblas_set_num_threads",
)


def _penalty(p: int, l2: float) -> Any:
    import numpy as np

    penalty = np.full(p, float(l2))
    penalty[0] = 1e-6
    return penalty


def _version(targets: dict[str, Target], quiet: frozenset[str]) -> str:
    blob = json.dumps([_targets_json(targets), sorted(quiet)], sort_keys=True).encode()
    return "model-" + hashlib.sha256(blob).hexdigest()[:10]


def _targets_json(targets: dict[str, Target]) -> dict[str, Any]:
    return {
        name: {
            "bias": round(t.bias, 6),
            "threshold": round(t.threshold, 4),
            "weights": {k: round(v, 6) for k, v in sorted(t.weights.items())},
            "words": {k: round(v, 6) for k, v in sorted(t.words.items())},
        }
        for name, t in targets.items()
    }


def save(model: Model, path: Path, meta: dict[str, Any]) -> None:
    doc = {
        "version": model.version,
        "meta": meta,
        "quiet": sorted(model.quiet),
        "targets": _targets_json(model.targets),
    }
    path.write_text(json.dumps(doc, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def load(path: Path) -> Model | None:
    """The model in ``path``, or None when there is none (the rules decide alone)."""
    if not path.exists():
        return None
    doc = json.loads(path.read_text(encoding="utf-8"))
    targets = {
        name: Target(
            float(t["bias"]),
            {k: float(v) for k, v in t["weights"].items()},
            {k: float(v) for k, v in t["words"].items()},
            float(t["threshold"]),
        )
        for name, t in doc["targets"].items()
    }
    quiet = frozenset(doc.get("quiet", ()))
    return Model(targets, _version(targets, quiet), quiet)
