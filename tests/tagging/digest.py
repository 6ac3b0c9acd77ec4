"""A digest of every tag result of both labelled files, to compare implementations.

Round 5's method (docs/tagger.md): each article of both dev files in five field
variants, tagged with the learned layer and with the rules alone (301 × 5 × 2 = 3,010
records). A record holds the result (language, relevance, score, reason, evidence with
offsets, themes with their evidence, theme scores, version) and what the rules found
(the features' values, words and sources, the form, every hit with its offsets).
Floats are written with ``repr``: equal digests mean equal to the last bit.

Run ``python tests/tagging/digest.py`` (``--records`` prints the records instead); the
tests run it in a subprocess with ``NEWSMON_PURE_PYTHON=1`` to compare the compiled
modules with the sources.
"""

from __future__ import annotations

import hashlib
import sys
from collections.abc import Iterator
from typing import Any

from app.tagging import Tagger, load_tagger
from app.tagging.evaluate import DEFAULT_FILES, _fields, read_labelled
from app.tagging.matcher import Hit
from app.tagging.taxonomy import DEFAULT_THEMES, DEFAULT_TOPIC, load_taxonomy


def _variants(row: dict[str, Any]) -> Iterator[tuple[str, str, str, str | None]]:
    f = _fields(row)
    lang = row.get("lang")
    yield f["title"], f["summary"], f["text"], lang
    yield f["title"], f["summary"], f["text"], None
    yield f["title"], f["summary"], "", lang
    yield f["title"], "", "", lang
    yield "", "", f["text"], lang


def _hit(h: Hit) -> tuple[Any, ...]:
    r = h.rule
    return (r.group, r.term, repr(r.weight), r.near, h.field, h.start, h.end, h.first, h.last,
            h.sentence, h.paragraph)  # fmt: skip


def records() -> Iterator[str]:
    taxonomy = load_taxonomy(DEFAULT_TOPIC, DEFAULT_THEMES)
    learned = Tagger(taxonomy, load_tagger().model, memo_size=0)
    rules = Tagger(taxonomy, memo_size=0)
    for path in DEFAULT_FILES:
        for row in read_labelled(path):
            for title, summary, text, lang in _variants(row):
                for tagger in (learned, rules):
                    r = tagger.tag(title=title, summary=summary, text=text, language=lang)
                    found = tagger.analyse(title=title, summary=summary, text=text, language=lang)
                    f = found.features
                    yield repr(
                        (
                            row["id"],
                            r.language,
                            r.relevant,
                            repr(r.relevance_score),
                            r.relevance_reason,
                            r.relevance_evidence,
                            r.themes,
                            sorted((k, repr(v)) for k, v in r.theme_scores.items()),
                            r.version,
                            sorted((k, repr(v)) for k, v in f.values.items()),
                            sorted(f.words),
                            sorted((k, [_hit(h) for h in v]) for k, v in f.sources.items()),
                            f.form,
                            f.language,
                            [_hit(h) for h in found.hits],
                        )
                    )


def main() -> None:
    digest = hashlib.sha256()
    n = 0
    for record in records():
        if "--records" in sys.argv:
            print(record)
        digest.update(record.encode("utf-8", "surrogatepass") + b"\n")
        n += 1
    try:
        from app.tagging.accel import implementation
    except ImportError:  # a tree from before the accelerator
        print(f"{n} records {digest.hexdigest()} pure")
    else:
        print(f"{n} records {digest.hexdigest()} {implementation()}")


if __name__ == "__main__":
    main()
