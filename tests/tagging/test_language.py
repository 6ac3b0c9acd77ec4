"""The fast language classifier is py3langid's, number for number, built from its bundled
model or read back from newsmon's cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from py3langid.langid import MODEL_FILE, LanguageIdentifier

from app.core.text import html_to_text
from app.tagging.language import DETECTABLE, _cache_path, _Classifier, _identifier

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


def test_the_model_cached_on_disk_classifies_exactly_as_the_bundled_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first process builds the restricted model from py3langid's file and saves
    it; later ones map it (no 40 MB transient, ~0.5 s less start-up per process)."""
    monkeypatch.setenv("NEWSMON_CACHE_DIR", str(tmp_path))
    reference = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    reference.set_languages(DETECTABLE)
    _identifier.cache_clear()
    try:
        built = _identifier()
        where = _cache_path()
        assert where is not None and where.is_relative_to(tmp_path)
        assert sorted(p.name for p in where.iterdir()) == [
            "meta.json",
            "nextmove.bin",
            "output.bin",
            "pc.npy",
            "ptc.npy",
            "rowbase.bin",
        ]
        assert [p.name for p in where.parent.iterdir()] == [where.name]  # no partial dir
        loaded = _Classifier.load(where)
        for sample in _samples():
            expected = reference.classify(sample)
            assert built.classify(sample) == expected, sample[:80]
            assert loaded.classify(sample) == expected, sample[:80]
    finally:
        _identifier.cache_clear()


def test_a_damaged_cached_model_is_built_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSMON_CACHE_DIR", str(tmp_path))
    _identifier.cache_clear()
    try:
        _identifier()
        where = _cache_path()
        assert where is not None
        (where / "nextmove.bin").write_bytes(b"\x00" * 12)  # cut short
        _identifier.cache_clear()
        assert _identifier().classify("The senators asked the company about its data.")[0] == "en"
        assert (where / "nextmove.bin").stat().st_size > 1_000_000  # saved whole again
    finally:
        _identifier.cache_clear()


def test_without_a_writable_cache_the_bundled_model_is_used(unusable_cache: Path) -> None:
    _identifier.cache_clear()
    try:
        assert _cache_path() is None
        assert _identifier().classify("Die Senatoren fragten das Unternehmen.")[0] == "de"
        assert unusable_cache.read_text() == "not a directory"
    finally:
        _identifier.cache_clear()


def test_declared_language_shortcut_decides_as_the_classifier() -> None:
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
        language._declared_language_agrees(language.marker_sample(t), h)
        for t in texts
        for h in ("en", "de", "fr", "es", "it")
    )
    assert taken > len(texts) // 5  # the shortcut is taken, not vacuous
    without = [language.classify_language(t, h) for t in texts for h in hints]
    assert with_shortcut == without


def test_marker_words_mark_one_language_only() -> None:
    from app.tagging.language import _MARKERS, _OTHERS

    for lang, markers in _MARKERS.items():
        assert markers and markers.isdisjoint(_OTHERS[lang]), lang
    assert "the" in _MARKERS["en"] and "die" not in _MARKERS["de"]  # "die": Dutch too


def test_shortcut_sample_leaves_a_clipped_word_out() -> None:
    """The shortcut reads the first 200 characters up to the last space: a word cut
    in two by the limit ("co" of "complaint", an Italian marker) neither counts nor
    vetoes, so an English lead with English markers keeps its declared language."""
    from app.tagging import language

    lead = "Regulators open a probe into the pricing practices of a retailer, and "
    text = lead + "x" * (language._MARKER_CHARS - len(lead) - 3) + " complaint follows here."
    sample = language.marker_sample(text)
    assert sample.endswith("x") and "co" not in sample.split()
    assert language._declared_language_agrees(sample, "en")
    assert not language._declared_language_agrees(text[: language._MARKER_CHARS], "en")
    assert language.detect_language(text, "en") == "en"
    short = "Senators question the deal and the data."
    assert language.marker_sample(short) == short
