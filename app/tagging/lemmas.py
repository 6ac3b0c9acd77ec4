"""simplemma's lemma dictionaries, opened from MARISA tries cached on disk.

simplemma ships each language's forms → lemmas compressed. Its ``low_memory`` backend
decodes them record by record in Python, ~1.3 s of CPU for the five languages of the
coverage, paid by every process that loads the tagger (the parse workers' fork server
on each ``newsmon poll``, every ``eval``). Its trie backend builds a MARISA trie per
language once, from the same data, and loads it from a file afterwards: ~10 ms and
~3 MB a language, the same answers (``tests/tagging/test_lemma_backend.py``).

The tries live in the tagger's cache (``app.tagging.cache``), under the simplemma
version that built them, and are written atomically (a temporary file renamed into
place), so processes building the same language at once never read a partial file.
Where that directory cannot be written, the ``low_memory`` backend answers as before.
"""

from __future__ import annotations

import os
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from simplemma import Lemmatizer
from simplemma.__metadata__ import __version__ as SIMPLEMMA_VERSION
from simplemma.strategies import DefaultStrategy, DictionaryLookupStrategy
from simplemma.strategies.dictionaries.trie_dictionary_factory import TrieDictionaryFactory
from simplemma.utils import normalize_token

from app.tagging.cache import writable_dir


class Lemmas(Protocol):
    def lemmatize(self, token: str, lang: str) -> str: ...

    def is_known(self, token: str, lang: str) -> bool: ...


def cache_dir() -> Path | None:
    """Where the tries are kept (per simplemma version: its data may change), or None."""
    return writable_dir("lemmas", f"simplemma-{SIMPLEMMA_VERSION}")


class _AtomicTries(TrieDictionaryFactory):
    """simplemma's trie factory, writing each trie to a temporary file first."""

    def _write_trie_to_disk(self, lang: str, trie: Any) -> None:
        self._cache_dir.mkdir(parents=True, exist_ok=True)
        target = self._cache_dir / f"{lang}.dic"
        part = target.with_name(f".{lang}.{os.getpid()}.{uuid.uuid4().hex}.part")
        try:
            trie.save(str(part))
            os.replace(part, target)
        finally:
            part.unlink(missing_ok=True)


class _Backend:
    def __init__(self, lemmatizer: Lemmatizer, lookup: DictionaryLookupStrategy) -> None:
        self._lemmatizer = lemmatizer
        self._lookup = lookup

    def lemmatize(self, token: str, lang: str) -> str:
        return str(self._lemmatizer.lemmatize(token, lang))

    def is_known(self, token: str, lang: str) -> bool:
        # simplemma.is_known: a normalised token with a dictionary entry
        return self._lookup.get_lemma(normalize_token(token), lang) is not None


class _LowMemory:
    def lemmatize(self, token: str, lang: str) -> str:
        import simplemma

        return str(simplemma.lemmatize(token, lang=lang, low_memory=True))

    def is_known(self, token: str, lang: str) -> bool:
        import simplemma

        return bool(simplemma.is_known(token, lang, low_memory=True))


@lru_cache(maxsize=1)
def backend() -> Lemmas:
    """The trie backend where its cache can be kept, else the ``low_memory`` one."""
    where = cache_dir()
    if where is None:
        return _LowMemory()
    factory = _AtomicTries(disk_cache_dir=str(where))
    return _Backend(
        Lemmatizer(lemmatization_strategy=DefaultStrategy(dictionary_factory=factory)),
        DictionaryLookupStrategy(factory),
    )
