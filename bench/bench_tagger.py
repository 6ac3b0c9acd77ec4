"""Tagging throughput on one core: the dev set repeated to 10,000 articles.

Run: ``python bench/bench_tagger.py``. HTML is converted to text before the
clock starts; only ``Tagger.tag`` (language detection included) is timed, as
CPU time of this process (one thread, so one core), best of ``PASSES`` runs so
that other load on a shared machine does not count against the tagger.

Then the whole CPU half of ingest, ``prepare_feed`` (parse, sanitise, plan,
tag), on a 50-entry RSS feed built from the same articles (title, summary and
HTML content, mixed languages): entries per second on one core.

The first line says which implementation ran: the compiled modules (``make install`` builds
them, app/tagging/accel.py) or the pure-Python sources. When the compiled ones ran, the
learned-layer figure is measured again in a child process on the sources
(``NEWSMON_PURE_PYTHON=1``), for comparison.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path

from app.core.text import html_to_text
from app.tagging import IMPLEMENTATION, Tagger, load_tagger
from app.tagging.taxonomy import DEFAULT_THEMES, DEFAULT_TOPIC, load_taxonomy

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "labels" / "articles.jsonl"
N_ARTICLES = 10_000
PASSES = 3
FEED_ENTRIES = 50
FEED_ROUNDS = 20  # feeds parsed per pass


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
    print(f"tagger implementation: {IMPLEMENTATION}")
    articles = _articles()
    taxonomy = load_taxonomy(DEFAULT_TOPIC, DEFAULT_THEMES)
    # New articles: the result memo is off, so every article is really tagged
    # (the dev set repeats; a memo would only measure look-ups).
    tagger = Tagger(taxonomy, load_tagger().model, memo_size=0)
    rules = Tagger(taxonomy, memo_size=0)  # without the learned layer
    repolled = load_tagger()  # as ingest uses it: with the memo
    for a in articles:  # warm the lemma and token-key caches once, as a running poller would
        tagger.tag(**a)
        rules.tag(**a)
        repolled.tag(**a)
    batch = list(itertools.islice(itertools.cycle(articles), N_ARTICLES))
    runs = (
        ("new articles, rules and learned layer", tagger),
        ("new articles, rules alone", rules),
        ("re-served feed items (memo)", repolled),
    )
    best = {name: float("inf") for name, _ in runs}
    for _ in range(PASSES):  # interleaved, so that load on a shared machine hits all alike
        for name, t in runs:
            start = time.process_time()
            for a in batch:
                t.tag(**a)
            best[name] = min(best[name], time.process_time() - start)
    print(f"load average {os.getloadavg()[0]:.1f} (2-core machine); CPU time, best of {PASSES}")
    for name, seconds in best.items():
        print(
            f"{name}: {N_ARTICLES} articles in {seconds:.2f} s CPU: "
            f"{N_ARTICLES / seconds:,.0f} articles/s (target >= 3,000 for new articles"
            " with the learned layer)"
        )
    if IMPLEMENTATION.startswith("compiled"):
        print(
            "new articles, rules and learned layer, pure Python (NEWSMON_PURE_PYTHON=1, a child"
            f" process): {_pure_rate():,.0f} articles/s"
        )
    bench_prepare_feed()


def learned_layer_rate() -> float:
    """New articles/s with the learned layer (CPU time, best of ``PASSES``), this process."""
    articles = _articles()
    taxonomy = load_taxonomy(DEFAULT_TOPIC, DEFAULT_THEMES)
    tagger = Tagger(taxonomy, load_tagger().model, memo_size=0)
    for a in articles:
        tagger.tag(**a)
    batch = list(itertools.islice(itertools.cycle(articles), N_ARTICLES))
    best = float("inf")
    for _ in range(PASSES):
        start = time.process_time()
        for a in batch:
            tagger.tag(**a)
        best = min(best, time.process_time() - start)
    return N_ARTICLES / best


def _pure_rate() -> float:
    code = "from bench.bench_tagger import learned_layer_rate; print(learned_layer_rate())"
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "NEWSMON_PURE_PYTHON": "1"},
        cwd=Path(__file__).resolve().parents[1],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(done.stdout.strip().splitlines()[-1])


def realistic_feed(entries: int = FEED_ENTRIES) -> bytes:
    """An RSS 2.0 document of ``entries`` dev-set articles with HTML content."""
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line]
    items = []
    for n, r in enumerate(itertools.islice(itertools.cycle(rows), entries)):
        # Some dev rows are undated; the feed keeps a date on every item.
        stamp = (r["published"] or "2024-06-01T12:00:00Z").replace("Z", "+00:00")
        published = datetime.fromisoformat(stamp)
        items.append(
            "<item>"
            f"<title>{escape(r['title'])}</title>"
            f"<link>{escape(r['url'])}?n={n}</link>"
            f'<guid isPermaLink="false">{escape(r["id"])}-{n}</guid>'
            f"<pubDate>{format_datetime(published)}</pubDate>"
            f"<dc:language>{r['lang']}</dc:language>"
            f"<description>{escape('<p>' + escape(r['summary']) + '</p>')}</description>"
            f"<content:encoded><![CDATA[{r['content']}]]></content:encoded>"
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        "<title>Bench feed</title><link>https://bench.example.com/</link>"
        f"<description>bench</description>{''.join(items)}</channel></rss>"
    ).encode()


def bench_prepare_feed() -> float:
    """Entries/s of ``prepare_feed`` on one core (CPU time, best of ``PASSES``)."""
    from app.polling.ingest import prepare_feed  # the whole worker-side path

    body = realistic_feed()
    now = datetime(2025, 1, 1, tzinfo=UTC)
    url = "https://bench.example.com/feed.xml"
    headers = {"Content-Type": "application/rss+xml"}
    prepared = prepare_feed(body, url, headers, now)  # warm caches, as a running worker would
    assert len(prepared.drafts) == FEED_ENTRIES, prepared.error
    memo = load_tagger()._memo
    rates = {}
    for label, forget in (("new entries", True), ("the same feed again (tagger memo)", False)):
        best = float("inf")
        for _ in range(PASSES):
            start = time.process_time()
            for _ in range(FEED_ROUNDS):
                if forget:
                    memo.clear()
                prepare_feed(body, url, headers, now)
            best = min(best, time.process_time() - start)
        rates[label] = FEED_ENTRIES * FEED_ROUNDS / best
        print(
            f"prepare_feed entries/s (one core), {label}: {rates[label]:,.0f}"
            f" ({FEED_ENTRIES}-entry feed)"
        )
    return rates["new entries"]


if __name__ == "__main__":
    main()
