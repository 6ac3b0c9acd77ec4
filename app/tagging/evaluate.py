"""Scoring the tagger against a labelled JSONL file in the GUIDE format.

``run_eval`` backs ``newsmon eval FILE.jsonl [--json]``: precision, recall and
F1 for relevance and each theme, macro-F1 over the themes, and every
misclassified id with the evidence that led the tagger there.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from app.core.text import html_to_text
from app.tagging import Tagger, TagResult, load_tagger
from app.tagging.taxonomy import THEMES


@dataclass(slots=True)
class Confusion:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    misses: list[str] = field(default_factory=list)

    def add(self, item_id: str, expected: bool, got: bool, note: str) -> None:
        self.tp += expected and got
        self.fp += got and not expected
        self.fn += expected and not got
        if expected != got:
            self.misses.append(f"{item_id} ({'FP' if got else 'FN'}): {note}")

    def metrics(self) -> dict[str, float]:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4)}


def read_labelled(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)


def tag_item(tagger: Tagger, item: dict[str, Any]) -> TagResult:
    return tagger.tag(
        title=item.get("title") or "",
        summary=item.get("summary") or "",
        text=html_to_text(item.get("content") or ""),
        language=item.get("lang"),
    )


def evaluate(path: Path, tagger: Tagger | None = None) -> dict[str, Confusion]:
    tagger = tagger or load_tagger()
    tables = {"relevance": Confusion(), **{t: Confusion() for t in THEMES}}
    for item in read_labelled(path):
        result = tag_item(tagger, item)
        item_id = str(item["id"])
        tables["relevance"].add(
            item_id, bool(item["relevant"]), result.relevant, result.relevance_reason
        )
        got = {t.key: t for t in result.themes}
        for theme in THEMES:
            tag = got.get(theme)
            terms = sorted({e.term for e in tag.evidence}) if tag else []
            note = f"score {result.theme_scores[theme]:g}" + (f" {terms}" if terms else "")
            tables[theme].add(item_id, theme in item.get("themes", ()), tag is not None, note)
    return tables


def summary(tables: dict[str, Confusion]) -> dict[str, Any]:
    themes = {t: tables[t].metrics() for t in THEMES}
    macro = sum(m["f1"] for m in themes.values()) / len(themes)
    return {
        "relevance": tables["relevance"].metrics(),
        "themes": themes,
        "macro_f1": round(macro, 4),
    }


def run_eval(path: Path, *, as_json: bool, out: TextIO = sys.stdout) -> int:
    """Print the evaluation of the default tagger on ``path``; returns the exit code 0."""
    tables = evaluate(path)
    result = summary(tables)
    if as_json:
        out.write(json.dumps(result, sort_keys=True) + "\n")
        return 0
    for name in ("relevance", *THEMES):
        m = tables[name].metrics()
        out.write(
            f"{name:<11} P {m['precision']:.3f}  R {m['recall']:.3f}  F1 {m['f1']:.3f}"
            f"  (tp {tables[name].tp}, fp {tables[name].fp}, fn {tables[name].fn})\n"
        )
    out.write(f"macro-F1 (themes) {result['macro_f1']:.3f}\n")
    for name in ("relevance", *THEMES):
        for miss in tables[name].misses:
            out.write(f"  {name}: {miss}\n")
    return 0
