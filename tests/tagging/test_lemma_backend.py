"""``is_known`` reads simplemma's low-memory backend: the same answers as the default one.

The default backend decodes a whole language's dictionary (~95 MB for German) into every
parse worker the first time a compound is split; the low-memory one reads the same data.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import simplemma

from app.core.text import html_to_text
from app.tagging.tokens import is_known

DEV = Path(__file__).resolve().parents[1] / "data" / "labels" / "articles.jsonl"


def test_is_known_matches_the_default_backend_on_every_dev_word() -> None:
    checked = 0
    for line in DEV.read_text(encoding="utf-8").splitlines():
        if not line:
            continue
        row = json.loads(line)
        lang = row.get("language") or row.get("lang") or "en"
        text = f"{row['title']} {row['summary']} {html_to_text(row['content'])}"
        for word in set(re.findall(r"\w+", text)):
            # the compound splitter asks about word endings too
            for form in {word, word[1:], word[2:], word[3:]} - {""}:
                if lang in ("en", "de", "fr", "es", "it"):
                    assert is_known(form, lang) == simplemma.is_known(form, lang), (form, lang)
                    checked += 1
    assert checked > 1_000
