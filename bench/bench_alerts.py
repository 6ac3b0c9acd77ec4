"""Alerts benchmark (issue 17): matching cost, commit → webhook latency, and
duplicate / lost deliveries.

    python -m bench alerts

1. Matching: 1,000 saved-view rules (themes, languages, sources, relevance, text
   queries) against tagged articles of the benchmark corpus, in-memory, one core
   (process CPU time); the indexed matcher beside evaluating every rule.
2. Delivery: a SQLite database, 20 "at once" webhook alerts, the real poller (with
   the alert hook) ingesting fresh corpus feeds from a loopback server in eight
   rounds a second apart, and the alert runner beside it at its default interval
   (``NEWSMON_ALERTS_INTERVAL_SECONDS``, 2 s), woken when new matches commit, as
   ``newsmon poll`` runs them. Latency
   is from the article's write (``first_seen_at``, set just before its commit) to the
   receiver's clock on arrival. Expected deliveries are what each view's SQL filter
   selects among the new articles; duplicates and losses are counted against that.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import statistics
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.alerts.match import ArticleFacts, RuleIndex, compile_rule, filter_from_query
from app.config import load_settings
from app.polling import make_alert_runner, make_poller
from app.polling.ingest import prepare_feed
from app.store import migrate
from app.store.alerts import AlertRuleStore
from app.store.articles import ArticleStore
from app.store.db import Database
from app.store.feeds import FeedStore
from app.store.saved_views import SavedViewStore
from app.store.search import fold
from app.store.tables import Article, Feed
from app.store.users import UserView
from bench.corpus import corpus, feed
from bench.feedserver import BenchFeedServer

RULES = 1_000
WEBHOOK_RULES = 20
ROUNDS = 8
FEEDS_PER_ROUND = 5
ENTRIES = 20
TERMS = ["amazon", "tiktok", "regulators", "händler", "partnership", "zoll", "daten", "sales"]
_PUB = re.compile(rb"<pubDate>[^<]*</pubDate>")


def random_query(rng: random.Random) -> str:
    parts = []
    if rng.random() < 0.5:
        parts += [f"theme={t}" for t in rng.sample(["security", "regulatory", "market"], 1)]
    if rng.random() < 0.3:
        parts.append("themes_mode=all&theme=market")
    if rng.random() < 0.4:
        parts.append(f"lang={rng.choice(['en', 'de', 'fr', 'es'])}")
    if rng.random() < 0.15:
        parts.append(f"source={rng.randrange(1, 40)}")
    if rng.random() < 0.5:
        q = rng.choice(TERMS)
        if rng.random() < 0.3:
            q += f" OR {rng.choice(TERMS)}"
        if rng.random() < 0.2:
            q += f" -{rng.choice(TERMS)}"
        parts.append(f"q={q}")
    if rng.random() < 0.3:
        parts.append("relevance=all")
    return "&".join(parts)


def bench_matching() -> None:
    rng = random.Random(17)
    now = datetime.now(UTC)
    facts = []
    for i, (path, body) in enumerate(corpus(40, 25).items()):
        prepared = prepare_feed(body, f"https://bench.example{path}", {}, now)
        for d in prepared.drafts:
            facts.append(
                ArticleFacts(
                    id=len(facts) + 1,
                    relevant=d.tags.relevant,
                    theme_mask=sum(
                        {"security": 1, "regulatory": 2, "market": 4}.get(t.key, 0)
                        for t in d.tags.themes
                    ),
                    language=d.language,
                    published_at=now,
                    feed_ids=frozenset({i + 1}),
                    doc=fold(f"{d.title} {d.text}"),
                )
            )
    queries = [random_query(rng) for _ in range(RULES)]
    index = RuleIndex.from_queries(enumerate(queries, 1))
    compiled = [compile_rule(i, q) for i, q in enumerate(queries, 1)]
    best_indexed = best_naive = float("inf")
    for _ in range(5):
        start = time.process_time()
        for a in facts:
            index.match(a, now)
        best_indexed = min(best_indexed, time.process_time() - start)
        start = time.process_time()
        for a in facts:
            for r in compiled:
                r.matches(a, now)
        best_naive = min(best_naive, time.process_time() - start)
    per = best_indexed / len(facts) * 1000
    naive = best_naive / len(facts) * 1000
    total = sum(len(index.match(a, now)) for a in facts)
    relevant = sum(a.relevant for a in facts)
    print(
        f"matching {RULES:,} rules: {per:.3f} ms per article, indexed (target <= 1 ms, one core); "
        f"every rule evaluated: {naive:.3f} ms"
    )
    print(
        f"  over {len(facts):,} corpus articles ({relevant:,} relevant), "
        f"{total / len(facts):.1f} matching rules per article on average"
    )


class _Receiver:
    def __init__(self) -> None:
        self.got: list[tuple[int, int, float, str]] = []  # rule, article, time, key
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                at = time.time()
                with owner.lock:
                    for a in body["articles"]:
                        owner.got.append(
                            (body["rule"]["id"], a["id"], at, self.headers["idempotency-key"])
                        )
                self.send_response(204)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"


def fresh_feed(index: int) -> bytes:
    stamp = format_datetime(datetime.now(UTC) - timedelta(minutes=index % 50)).encode()
    return _PUB.sub(b"<pubDate>" + stamp + b"</pubDate>", feed(index, ENTRIES))


def bench_delivery() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="newsmon-bench-alerts-"))
    settings = load_settings(
        database_url=f"sqlite:///{tmp / 'alerts.db'}",
        data_dir=tmp,
        secret_key="bench",
        allow_private_networks=True,
        webhook_allowlist=["127.0.0.0/8"],
        parse_workers=1,
        default_feeds=False,
    )
    db = Database.from_url(settings.database_url)
    migrate.upgrade(db.engine)
    receiver = _Receiver()
    rng = random.Random(5)
    operator = UserView(0, "bench", "admin")
    now = datetime.now(UTC)
    queries = ["relevance=all", "theme=security", "theme=market", "lang=de", "q=amazon"]
    queries += [random_query(rng) for _ in range(WEBHOOK_RULES - len(queries))]
    with db.write() as session:
        for n, q in enumerate(queries):
            view = SavedViewStore(session).create(f"view {n}", q, by=operator, shared=True, now=now)
            AlertRuleStore(session, settings.secret_key).create(
                view.id,
                by=operator,
                shared=True,
                now=now,
                channel="webhook",
                target=receiver.url,
            )
    bodies = {f"/feed/{i}.xml": fresh_feed(i) for i in range(ROUNDS * FEEDS_PER_ROUND)}
    # skip the broken ones of the corpus: they add nothing to measure here
    started = datetime.now(UTC)
    with BenchFeedServer(bodies) as server:
        urls = server.urls()

        async def run() -> None:
            runner = make_alert_runner(settings, db)
            poller = make_poller(settings, db, alert_wake=runner.wake)
            stop = asyncio.Event()
            task = asyncio.create_task(runner.run_forever(stop))
            for r in range(ROUNDS):
                with db.write() as session:
                    feeds = FeedStore(session)
                    for url in urls[r * FEEDS_PER_ROUND : (r + 1) * FEEDS_PER_ROUND]:
                        feeds.add(url, now=datetime.now(UTC))
                await poller.poll_due()
                await asyncio.sleep(1.0)
            expected_n = len(expected_pairs(db, queries, started))
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with receiver.lock:
                    if len({(r, a) for r, a, _, _ in receiver.got}) >= expected_n:
                        break
                await asyncio.sleep(0.1)
            stop.set()
            await task

        asyncio.run(run())
    expected = expected_pairs(db, queries, started)
    with db.read() as session:
        written = {
            i: t.timestamp() for i, t in session.execute(select(Article.id, Article.first_seen_at))
        }
        feeds_n = session.scalar(select(Feed.id).order_by(Feed.id.desc()).limit(1))
    pairs = [(r, a) for r, a, _, _ in receiver.got]
    delivered = set(pairs)
    duplicates = len(pairs) - len(delivered)
    lost = len(expected - delivered)
    unexpected = len(delivered - expected)
    first_arrival: dict[tuple[int, int], float] = {}
    for r, a, at, _ in receiver.got:
        first_arrival.setdefault((r, a), at)
    latencies = sorted(at - written[a] for (r, a), at in first_arrival.items())
    messages = len({k for _, _, _, k in receiver.got})
    if latencies:
        p50 = statistics.median(latencies)
        p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)]
        print(
            f"commit → webhook, 'at once' rules: p50 {p50:.2f} s, p95 {p95:.2f} s, "
            f"max {latencies[-1]:.2f} s (target p95 <= 5 s; runner every "
            f"{settings.alerts_interval_seconds:g} s, woken on commit)"
        )
    print(
        f"  {len(expected):,} expected (alert, article) deliveries from {feeds_n} feeds in "
        f"{ROUNDS} rounds, {len(delivered):,} delivered in {messages} POSTs; "
        f"duplicates {duplicates}, lost {lost}, unexpected {unexpected} (target 0 and 0)"
    )
    db.dispose()


def expected_pairs(db: Database, queries: list[str], since: datetime) -> set[tuple[int, int]]:
    from dataclasses import replace

    out: set[tuple[int, int]] = set()
    with db.read() as session:
        for rule_id, q in enumerate(queries, 1):
            flt = replace(filter_from_query(q), since=None)
            stmt = ArticleStore(session).filtered(select(Article.id), flt)
            stmt = stmt.where(Article.first_seen_at >= since)
            out |= {(rule_id, a) for a in session.scalars(stmt)}
    return out


def main() -> None:
    bench_matching()
    bench_delivery()


if __name__ == "__main__":
    main()
