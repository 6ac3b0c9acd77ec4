"""The fast language classifier is py3langid's, number for number."""

from __future__ import annotations

import json
from pathlib import Path

from py3langid.langid import MODEL_FILE, LanguageIdentifier

from app.core.text import html_to_text
from app.tagging.language import DETECTABLE, _identifier

DEV = Path(__file__).resolve().parents[1] / "data" / "labels" / "articles.jsonl"


def _samples() -> list[str]:
    rows = [json.loads(line) for line in DEV.read_text(encoding="utf-8").splitlines() if line]
    out: list[str] = ["", " ", "a", "  double  spaces  ", "ÉTAT DES LIEUX", "日本語のテキスト"]
    for r in rows:
        text = f"{r['title']}\n\n{r['summary']}\n\n{html_to_text(r['content'])}"
        out += [text[:100].strip(), text[:1000], text[37:300], r["title"].upper(), text]
    return out


def test_classify_matches_py3langid_exactly() -> None:
    reference = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    reference.set_languages(DETECTABLE)
    fast = _identifier()
    for sample in _samples():
        for _ in range(2):  # cold and memoised walks
            assert fast.classify(sample) == reference.classify(sample), sample[:80]
