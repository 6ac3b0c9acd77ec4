"""Scoring the tagger against labelled JSONL files in the GUIDE format.

``run_eval`` backs ``newsmon eval FILE [FILE…] [--folds K] [--json]``:
precision, recall and F1 for relevance and each theme, for the rules alone,
the shipped tagger, and, with ``--folds``, K-fold cross-validation of
everything fitted (the learned weights and the decision thresholds; the
hand-written rules are fixed, see docs/tagger.md), per language and per form,
with confusion counts, a reliability table of the cross-validated
probabilities and the misclassified ids. ``run_train`` backs ``newsmon train``.
"""

from __future__ import annotations

import json
import random
import sys
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from app.core.errors import InvalidInput
from app.core.text import html_to_text, is_lead_of
from app.tagging import Analysis, Tagger, TagResult, load_tagger
from app.tagging.model import DEFAULT_MODEL, TARGETS, Model, fit, save
from app.tagging.taxonomy import DEFAULT_THEMES, DEFAULT_TOPIC, THEMES, load_taxonomy

DEFAULT_FILES = (
    Path(__file__).resolve().parents[2] / "tests" / "data" / "labels" / "articles.jsonl",
    Path(__file__).resolve().parents[2] / "tests" / "data" / "labels" / "articles-v2.jsonl",
)
SEED = 20250401
INNER_FOLDS = 3
_GRID = [round(0.1 + 0.025 * k, 3) for k in range(33)]  # 0.1 .. 0.9
_BINS = 10


@dataclass(slots=True)
class Confusion:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, item_id: str, expected: bool, got: bool, note: str = "") -> None:
        self.tp += expected and got
        self.fp += got and not expected
        self.fn += expected and not got
        self.tn += not expected and not got
        if expected != got:
            self.misses.append(
                f"{item_id} ({'FP' if got else 'FN'})" + (f": {note}" if note else "")
            )

    def metrics(self) -> dict[str, float]:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4)}


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    lang: str
    form: str  # the label's form (v1 rows have none: "full")
    truth: dict[str, bool]
    found: Analysis


def read_labelled(path: Path) -> Iterator[dict[str, Any]]:
    """The rows of a labelled JSONL file; an unreadable file or line is ``InvalidInput``."""
    try:
        with path.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if line.strip():
                    try:
                        row = json.loads(line)
                    except ValueError as exc:
                        raise InvalidInput(f"{path}:{number}: not JSON ({exc})") from exc
                    if not isinstance(row, dict) or "id" not in row or "relevant" not in row:
                        raise InvalidInput(f"{path}:{number}: a row needs 'id' and 'relevant'")
                    yield row
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc


def _fields(item: dict[str, Any]) -> dict[str, str]:
    """The fields as ingest stores them (``tag_article``): a lead opening the body counts once."""
    summary = item.get("summary") or ""
    text = html_to_text(item.get("content") or "")
    if summary and is_lead_of(summary, text):
        summary = ""
    return {"title": item.get("title") or "", "summary": summary, "text": text}


def tag_item(tagger: Tagger, item: dict[str, Any]) -> TagResult:
    return tagger.tag(**_fields(item), language=item.get("lang"))


def load_items(paths: Iterable[Path], tagger: Tagger) -> list[Item]:
    items = []
    for path in paths:
        for row in read_labelled(path):
            found = tagger.analyse(**_fields(row), language=row.get("lang"))
            truth = {"relevance": bool(row["relevant"])}
            truth.update({t: t in row.get("themes", ()) for t in THEMES})
            items.append(
                Item(str(row["id"]), str(row.get("lang")), row.get("form") or "full", truth, found)
            )
    return items


# -- folds, thresholds, fitting ---------------------------------------------------------


def folds(items: Sequence[Item], k: int, seed: int = SEED) -> list[int]:
    """Fold number per item: stratified by relevance label, language and form, seeded."""
    strata: dict[tuple[bool, str, str], list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        strata[(it.truth["relevance"], it.lang, it.form)].append(i)
    rng = random.Random(seed)
    out = [0] * len(items)
    offset = 0
    for key in sorted(strata):
        members = strata[key]
        rng.shuffle(members)
        for j, i in enumerate(members):
            out[i] = (offset + j) % k
        offset += len(members)
    return out


def best_threshold(probs: Sequence[float], truth: Sequence[bool]) -> float:
    """The grid threshold with the best F1 (ties: the one nearest 0.5)."""

    def f1(t: float) -> float:
        tp = sum(p >= t and y for p, y in zip(probs, truth, strict=True))
        fp = sum(p >= t and not y for p, y in zip(probs, truth, strict=True))
        fn = sum(p < t and y for p, y in zip(probs, truth, strict=True))
        return 2 * tp / (2 * tp + fp + fn) if tp else 0.0

    return max(_GRID, key=lambda t: (round(f1(t), 6), -abs(t - 0.5)))


def _fit(items: Sequence[Item], thresholds: dict[str, float]) -> Model:
    labels = {t: [it.truth[t] for it in items] for t in TARGETS}
    return fit([it.found.features for it in items], labels, thresholds)


def _oof(items: Sequence[Item], k: int, seed: int) -> dict[str, list[float]]:
    """Out-of-fold probabilities (thresholds left at 0.5: only the scores are used)."""
    fold_of = folds(items, k, seed)
    probs = {t: [0.0] * len(items) for t in TARGETS}
    for f in range(k):
        train = [it for it, g in zip(items, fold_of, strict=True) if g != f]
        model = _fit(train, {})
        for i, (it, g) in enumerate(zip(items, fold_of, strict=True)):
            if g == f:
                for t in TARGETS:
                    probs[t][i] = model.score(t, it.found.features)
    return probs


def train(items: Sequence[Item], k: int = 5, seed: int = SEED) -> Model:
    """Thresholds chosen on out-of-fold probabilities, then weights fitted on everything."""
    probs = _oof(items, k, seed)
    thresholds = {t: best_threshold(probs[t], [it.truth[t] for it in items]) for t in TARGETS}
    return _fit(items, thresholds)


def cross_validate(
    items: Sequence[Item], k: int, seed: int = SEED
) -> tuple[dict[str, list[float]], dict[str, list[bool]]]:
    """Held-out probabilities per target; the decision uses thresholds found inside each fold."""
    fold_of = folds(items, k, seed)
    probs = {t: [0.0] * len(items) for t in TARGETS}
    decisions = {t: [False] * len(items) for t in TARGETS}
    for f in range(k):
        train_items = [it for it, g in zip(items, fold_of, strict=True) if g != f]
        model = train(train_items, INNER_FOLDS, seed)
        for i, (it, g) in enumerate(zip(items, fold_of, strict=True)):
            if g == f:
                for t in TARGETS:
                    p = model.score(t, it.found.features)
                    probs[t][i] = p
                    decisions[t][i] = p >= model.targets[t].threshold
    return probs, decisions


# -- reports ------------------------------------------------------------------------------


def _tables(items: Sequence[Item], decided: Mapping[str, Sequence[bool]]) -> dict[str, Confusion]:
    tables = {t: Confusion() for t in TARGETS}
    for i, it in enumerate(items):
        for t in TARGETS:
            tables[t].add(it.id, it.truth[t], bool(decided[t][i]))
    return tables


def _by(items: Sequence[Item], decided: Mapping[str, Sequence[bool]], key: str) -> dict[str, Any]:
    groups: dict[str, list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        groups[getattr(it, key)].append(i)
    out = {}
    for name in sorted(groups):
        idx = groups[name]
        sub = [items[i] for i in idx]
        tables = _tables(sub, {t: [decided[t][i] for i in idx] for t in TARGETS})
        out[name] = {"n": len(idx), **{t: tables[t].metrics()["f1"] for t in TARGETS}}
    return out


def reliability(probs: Sequence[float], truth: Sequence[bool]) -> list[dict[str, float]]:
    rows = []
    for b in range(_BINS):
        lo, hi = b / _BINS, (b + 1) / _BINS
        idx = [i for i, p in enumerate(probs) if lo <= p < hi or (b == _BINS - 1 and p == 1.0)]
        if idx:
            rows.append(
                {
                    "bin": round(lo, 1),
                    "n": len(idx),
                    "mean_p": round(sum(probs[i] for i in idx) / len(idx), 3),
                    "observed": round(sum(truth[i] for i in idx) / len(idx), 3),
                }
            )
    return rows


def report(items: Sequence[Item], tagger: Tagger, folds_k: int | None) -> dict[str, Any]:
    rules = {
        "relevance": [it.found.relevance.relevant for it in items],
        **{t: [any(x.key == t for x in it.found.themes) for it in items] for t in THEMES},
    }
    out: dict[str, Any] = {"n": len(items), "version": tagger.version}
    out["rules"] = _summary(_tables(items, rules))
    if tagger.model is not None:
        shipped = {
            t: [
                tagger.model.score(t, it.found.features) >= tagger.model.targets[t].threshold
                for it in items
            ]
            for t in TARGETS
        }
        out["shipped"] = _summary(_tables(items, shipped))
        out["thresholds"] = {t: tagger.model.targets[t].threshold for t in TARGETS}
    if folds_k:
        probs, decided = cross_validate(items, folds_k)
        tables = _tables(items, decided)
        out["cv"] = {
            "folds": folds_k,
            "seed": SEED,
            **_summary(tables),
            "confusion": {
                t: {k: getattr(tables[t], k) for k in ("tp", "fp", "fn", "tn")} for t in TARGETS
            },
            "by_language": _by(items, decided, "lang"),
            "by_form": _by(items, decided, "form"),
            "reliability": {
                t: reliability(probs[t], [it.truth[t] for it in items]) for t in TARGETS
            },
            "misses": {t: tables[t].misses for t in TARGETS},
        }
    return out


def _summary(tables: dict[str, Confusion]) -> dict[str, Any]:
    metrics: dict[str, Any] = {t: tables[t].metrics() for t in TARGETS}
    metrics["macro_f1_themes"] = round(sum(metrics[t]["f1"] for t in THEMES) / len(THEMES), 4)
    return metrics


def run_eval(
    paths: Sequence[Path], *, as_json: bool, folds_k: int | None = None, out: TextIO = sys.stdout
) -> int:
    """Print the evaluation on ``paths``; returns the exit code 0."""
    _check_folds(folds_k)
    tagger = load_tagger()
    items = load_items(paths, tagger)
    result = report(items, tagger, folds_k)
    if as_json:
        out.write(json.dumps(result, sort_keys=True) + "\n")
        return 0
    _print(result, out)
    return 0


def _check_folds(k: int | None) -> None:
    if k is not None and not 2 <= k <= 20:
        raise InvalidInput("--folds must be between 2 and 20", field="folds")


def _print(r: dict[str, Any], out: TextIO) -> None:
    w = out.write
    w(f"{r['n']} articles, tagger {r['version']}\n")
    columns = [("rules", "rules alone")]
    if "shipped" in r:
        columns.append(("shipped", "shipped model (in-sample)"))
    if "cv" in r:
        columns.append(("cv", f"{r['cv']['folds']}-fold CV"))
    w(f"{'':<11}" + "".join(f"{title:>28}" for _, title in columns) + "\n")
    for t in TARGETS:
        cells = []
        for key, _ in columns:
            m = r[key][t]
            cells.append(f"P {m['precision']:.3f} R {m['recall']:.3f} F1 {m['f1']:.3f}")
        w(f"{t:<11}" + "".join(f"{c:>28}" for c in cells) + "\n")
    w(f"{'themes F1':<11}" + "".join(f"{r[k]['macro_f1_themes']:>28.3f}" for k, _ in columns))
    w("\n")
    if "thresholds" in r:
        w("thresholds " + ", ".join(f"{t} {v:g}" for t, v in r["thresholds"].items()) + "\n")
    if "cv" not in r:
        return
    cv = r["cv"]
    for key, title in (("by_language", "language"), ("by_form", "form")):
        w(f"\nCV F1 by {title}\n{'':<10}{'n':>5}" + "".join(f"{t:>12}" for t in TARGETS) + "\n")
        for name, row in cv[key].items():
            w(f"{name:<10}{row['n']:>5}" + "".join(f"{row[t]:>12.3f}" for t in TARGETS) + "\n")
    w("\nCV confusion (tp fp fn tn)\n")
    for t in TARGETS:
        c = cv["confusion"][t]
        w(f"  {t:<11} {c['tp']:>4} {c['fp']:>4} {c['fn']:>4} {c['tn']:>4}\n")
    w("\nCV reliability (probability bin: n, mean predicted, observed share)\n")
    for t in TARGETS:
        cells = [
            f"{b['bin']:.1f}: {b['n']} {b['mean_p']:.2f}/{b['observed']:.2f}"
            for b in cv["reliability"][t]
        ]
        w(f"  {t:<11} " + " | ".join(cells) + "\n")
    w("\nCV misses\n")
    for t in TARGETS:
        if cv["misses"][t]:
            w(f"  {t}: " + ", ".join(cv["misses"][t]) + "\n")


def run_train(paths: Sequence[Path], *, folds_k: int, out_path: Path = DEFAULT_MODEL) -> int:
    """Fit the learned layer on ``paths`` and write it into the package."""
    _check_folds(folds_k)
    tagger = Tagger(load_taxonomy(DEFAULT_TOPIC, DEFAULT_THEMES))  # the rules alone
    items = load_items(paths, tagger)
    model = train(items, folds_k)
    meta = {
        "trained_on": [p.name for p in paths],
        "articles": len(items),
        "folds": folds_k,
        "seed": SEED,
        "rules": tagger.version,
    }
    save(model, out_path, meta)
    thresholds = ", ".join(f"{t} {model.targets[t].threshold:g}" for t in TARGETS)
    print(f"wrote {out_path} ({model.version}; {len(items)} articles; thresholds {thresholds})")
    return 0
