"""The tagger against the hand-labelled dev set (tests/data/labels)."""

from __future__ import annotations

import io
import json
from pathlib import Path

from app.tagging import load_tagger
from app.tagging.evaluate import read_labelled, run_eval, tag_item

DEV = Path(__file__).resolve().parents[1] / "data" / "labels" / "articles.jsonl"


def test_dev_set_meets_targets() -> None:
    out = io.StringIO()
    assert run_eval(DEV, as_json=True, out=out) == 0
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result["relevance"]["f1"] >= 0.95
    for theme in ("security", "regulatory", "market"):
        assert result["themes"][theme]["f1"] >= 0.92, theme
    assert set(result) == {"relevance", "themes", "macro_f1"}


def test_seed_article_is_relevant_with_all_three_themes() -> None:
    seed = next(item for item in read_labelled(DEV) if item["id"] == "seed-001")
    result = tag_item(load_tagger(), seed)
    assert result.relevant
    assert {t.key for t in result.themes} == {"security", "regulatory", "market"}
    assert result.language == "de"


def test_text_report_lists_metrics() -> None:
    out = io.StringIO()
    assert run_eval(DEV, as_json=False, out=out) == 0
    report = out.getvalue()
    for name in ("relevance", "security", "regulatory", "market", "macro-F1"):
        assert name in report
