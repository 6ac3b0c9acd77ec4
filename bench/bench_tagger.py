"""Tagging throughput on one core: the dev set repeated to 10,000 articles.

Run: ``python bench/bench_tagger.py``. HTML is converted to text before the
clock starts; only ``Tagger.tag`` (language detection included) is timed.
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path

from app.core.text import html_to_text
from app.tagging import load_tagger

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "labels" / "articles.jsonl"
N_ARTICLES = 10_000


def _articles() -> list[dict[str, str]]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line]
    return [
        {
            "title": r["title"],
            "summary": r["summary"],
            "text": html_to_text(r["content"]),
            "language": r["lang"],
        }
        for r in rows
    ]


def main() -> None:
    articles = _articles()
    tagger = load_tagger()
    for a in articles:  # warm the lemma and token-key caches once, as a running poller would
        tagger.tag(**a)
    batch = list(itertools.islice(itertools.cycle(articles), N_ARTICLES))
    start = time.perf_counter()
    for a in batch:
        tagger.tag(**a)
    elapsed = time.perf_counter() - start
    print(f"{N_ARTICLES} articles in {elapsed:.2f} s: {N_ARTICLES / elapsed:,.0f} articles/s")


if __name__ == "__main__":
    main()
