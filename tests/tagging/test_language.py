"""The fast language classifier is py3langid's, number for number."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
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


def test_declared_language_shortcut_decides_as_the_classifier(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When the declared language's marker words agree, the classifier is skipped: the
    same language as running it, for every labelled article (headline, lead, body and
    whole text) under every declared language, right or wrong."""
    from app.tagging import language
    from app.tagging.evaluate import DEFAULT_FILES, read_labelled

    texts = [s for s in _samples() if s]
    for path in DEFAULT_FILES:
        for row in read_labelled(path):
            body = html_to_text(row.get("content") or "")
            head = f"{row['title']}\n\n{row['summary']}\n\n"
            texts += [head + body, head, row["summary"], body[200:]]
    hints = [None, "en", "de", "fr", "es", "it", "pt", "nl", "de-AT"]
    with_shortcut = [language.detect_language(t, h) for t in texts for h in hints]
    taken = sum(
        language._declared_language_agrees(t[:100].strip(), h)
        for t in texts
        for h in ("en", "de", "fr", "es", "it")
    )
    assert taken > len(texts) // 5  # the shortcut is taken, not vacuous
    monkeypatch.setattr(language, "_declared_language_agrees", lambda sample, lang: False)
    without = [language.detect_language(t, h) for t in texts for h in hints]
    assert with_shortcut == without


def test_marker_words_mark_one_language_only() -> None:
    from app.tagging.language import _MARKERS, _OTHERS

    for lang, markers in _MARKERS.items():
        assert markers and markers.isdisjoint(_OTHERS[lang]), lang
    assert "the" in _MARKERS["en"] and "die" not in _MARKERS["de"]  # "die": Dutch too
