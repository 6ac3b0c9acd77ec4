"""Tagging throughput on one core: the dev set repeated to 10,000 articles.

Run: ``python bench/bench_tagger.py``. HTML is converted to text before the
clock starts; only ``Tagger.tag`` (language detection included) is timed, as
CPU time of this process (one thread, so one core), best of ``PASSES`` runs so
that other load on a shared machine does not count against the tagger.
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
PASSES = 3


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
    best = float("inf")
    for _ in range(PASSES):
        start = time.process_time()
        for a in batch:
            tagger.tag(**a)
        best = min(best, time.process_time() - start)
    print(f"{N_ARTICLES} articles in {best:.2f} s CPU: {N_ARTICLES / best:,.0f} articles/s")


if __name__ == "__main__":
    main()
