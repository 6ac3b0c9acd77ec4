"""The tagger's lemma backend (``app.tagging.lemmas``): simplemma's dictionaries read from
MARISA tries cached on disk give the same answers as simplemma's default backend, the
cache is written atomically, and without a writable cache the ``low_memory`` backend
answers instead."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import simplemma

from app.core.text import html_to_text
from app.tagging import lemmas
from app.tagging.tokens import is_known, lemma_of

LABELS = Path(__file__).resolve().parents[1] / "data" / "labels"
COVERED = ("en", "de", "fr", "es", "it")


def dev_words() -> dict[str, set[str]]:
    words: dict[str, set[str]] = {lang: set() for lang in COVERED}
    for name in ("articles.jsonl", "articles-v2.jsonl"):
        for line in (LABELS / name).read_text(encoding="utf-8").splitlines():
            if not line:
                continue
            row = json.loads(line)
            lang = row.get("language") or row.get("lang") or "en"
            text = f"{row['title']} {row['summary']} {html_to_text(row.get('content') or '')}"
            if lang in words:
                words[lang].update(re.findall(r"\w+", text))
    return words


def test_lemmas_and_known_words_match_simplemmas_default_backend_on_every_dev_word() -> None:
    checked = 0
    for lang, words in dev_words().items():
        for word in words:
            assert lemma_of(word, lang) == simplemma.lemmatize(word, lang=lang).lower(), (
                word,
                lang,
            )
            # the compound splitter asks about word endings too
            for form in {word, word[1:], word[2:], word[3:]} - {""}:
                assert is_known(form, lang) == simplemma.is_known(form, lang), (form, lang)
                checked += 1
    assert checked > 10_000


def test_a_trie_is_built_once_into_the_cache_and_read_from_it_afterwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSMON_CACHE_DIR", str(tmp_path))
    lemmas.backend.cache_clear()
    try:
        first = lemmas.backend()
        assert first.lemmatize("houses", "en") == "house"
        where = lemmas.cache_dir()
        assert where is not None
        built = where / "en.dic"
        assert built.is_relative_to(tmp_path) and built.stat().st_size > 0
        assert [p.name for p in built.parent.iterdir()] == ["en.dic"]  # no partial file
        mtime = built.stat().st_mtime_ns
        lemmas.backend.cache_clear()
        again = lemmas.backend()
        assert again is not first
        assert again.lemmatize("houses", "en") == "house" and again.is_known("house", "en")
        assert not again.is_known("xqzzyv", "en")
        assert built.stat().st_mtime_ns == mtime  # read, not rebuilt
    finally:
        lemmas.backend.cache_clear()


def test_without_a_usable_cache_the_low_memory_backend_answers(unusable_cache: Path) -> None:
    lemmas.backend.cache_clear()
    try:
        assert lemmas.cache_dir() is None
        found = lemmas.backend()
        assert isinstance(found, lemmas._LowMemory)
        assert found.lemmatize("houses", "en") == "house" and found.is_known("house", "en")
        assert unusable_cache.read_text() == "not a directory"
    finally:
        lemmas.backend.cache_clear()
