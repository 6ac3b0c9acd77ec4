"""Timeline benchmark: 1,000,000 synthetic articles, then p50/p95 server time per screen.

    NEWSMON_BENCH_ARTICLES=100000 python -m bench timeline

SQLite always; PostgreSQL too when NEWSMON_TEST_POSTGRES_URL is set (in a schema of
its own, dropped afterwards). Rows go in with Core executemany in large batches
while the search triggers are dropped; the search index is rebuilt once after.
Requests run in-process through Starlette's TestClient, timed one by one.
"""

from __future__ import annotations

import importlib.util
import os
import random
import resource
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, insert, text

from app.config import Settings
from app.store import migrate
from app.store.db import Database, make_engine
from app.store.tables import Article, Feed

ROOT = Path(__file__).resolve().parents[1]
N = int(os.environ.get("NEWSMON_BENCH_ARTICLES", "1000000"))
FEEDS = 200
BATCH = 10_000
REPEAT = 40
# share of voice is the same chart's data split by outlet or language: the same target
TARGETS_MS = {
    "timeline JSON": 50,
    "timeline HTML": 100,
    "full-text": 150,
    "full-text HTML (with its chart)": 150,
    "volume 1y": 200,
    "volume 1y by outlet": 200,
    "volume 1y by language": 200,
}
WORDS = [
    "amazon",
    "tiktok",
    "shop",
    "partnership",
    "regulators",
    "data",
    "deal",
    "security",
    "market",
    "retail",
    "creators",
    "Datensicherheit",
    "Übernahme",
    "Kooperation",
    "café",
    "régulateurs",
    "commerce",
    "livestream",
    "logistics",
]
LANGS = ("en", "en", "en", "de", "fr", "es")
THEME_KEYS = ("security", "regulatory", "market")  # bit order of core.timeline.THEME_BITS
CLUSTER_EVERY = 20  # one article in 20 heads a story cluster of up to 4 articles
KEEP = os.environ.get("NEWSMON_BENCH_SQLITE")  # reuse (or keep) this SQLite file
KEEP_SCHEMA = os.environ.get("NEWSMON_BENCH_PG_SCHEMA")  # reuse (or keep) this PG schema
ONLY = os.environ.get("NEWSMON_BENCH_ONLY", "")  # "sqlite" or "postgres": run just that one


def migration_0002() -> Any:
    return migration("0002_full_text_search")


def migration(name: str) -> Any:
    path = ROOT / "migrations" / "versions" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"m{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rows(now: datetime, rng: random.Random) -> Iterator[dict[str, Any]]:
    span = 730 * 24 * 3600
    for i in range(N):
        words = " ".join(rng.choices(WORDS, k=30))
        when = now - timedelta(seconds=rng.randrange(span))
        yield {
            "url": f"https://bench.example/{i}", "url_hash": f"{i:064x}", "key_kind": "url",
            "title": f"Article {i}: " + " ".join(rng.choices(WORDS, k=6)), "summary": "",
            "content": "", "text": words, "language": rng.choice(LANGS),
            "published_at": when, "published_estimated": False, "first_seen_at": when,
            "updated_at": when, "relevance_score": rng.random(), "relevance_reason": "bench",
            "relevance_evidence": [], "tagger_relevant": True, "relevant": rng.random() < 0.8,
            "theme_mask": rng.randrange(8), "theme_scores": {},
        }  # fmt: skip


def fill(db: Database) -> float:
    started = time.perf_counter()
    m = migration_0002()
    now = datetime.now(UTC)
    rng = random.Random(7)
    postgres = db.dialect == "postgresql"
    with db.engine.begin() as conn:
        for statement in (
            ["DROP TRIGGER IF EXISTS article_search_sync ON article"]
            if postgres
            else m.SQLITE_DROP_TRIGGERS
        ):
            conn.execute(text(statement))
        conn.execute(insert(Feed), [
            {"url": f"https://f{n}.example/rss", "url_hash": f"f{n:063d}", "title": f"Feed {n}",
             "created_at": now, "next_poll_at": now, "interval_seconds": 3600,
             "consecutive_failures": 0, "redirect_count": 0} for n in range(FEEDS)
        ])  # fmt: skip
        batch: list[dict[str, Any]] = []
        for row in rows(now, rng):
            batch.append(row)
            if len(batch) == BATCH:
                conn.execute(insert(Article), batch)
                batch = []
        if batch:
            conn.execute(insert(Article), batch)
        # Sources without their triggers, then the first outlet in the migration's one
        # set-based UPDATE (what upgrading a full database runs), then the triggers.
        m9 = migration("0009_primary_feed")
        for statement in m9.PG_DOWN if postgres else m9.SQLITE_DROP:
            conn.execute(text(statement))
        seed_relations(conn)
        backfill = time.perf_counter()
        conn.execute(text(m9.BACKFILL))
        took = time.perf_counter() - backfill
        print(f"{db.dialect:10} backfilled primary_feed_id in {took:.1f} s", flush=True)
        for statement in m9.PG_UP if postgres else m9.SQLITE_TRIGGERS:
            conn.execute(text(statement))
        if postgres:
            conn.execute(text("DROP INDEX IF EXISTS ix_article_search_doc"))
            conn.execute(text("TRUNCATE article_search"))
            conn.execute(text(m.PG_UP[3]))
            conn.execute(text(m.PG_TRGM_INDEX))
            conn.execute(text(m.PG_UP[2]))
        else:
            for statement in [*m._sqlite_fill("1", m.DOC), *m.SQLITE_TRIGGERS]:
                conn.execute(text(statement))
        if not postgres:
            conn.execute(text("ANALYZE"))
    if postgres:
        # What autovacuum would have done by the time anyone reads: statistics, and the
        # visibility map without which PostgreSQL cannot answer from an index alone.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            tables = "article, article_search, article_source, article_theme"
            conn.execute(text(f"VACUUM ANALYZE {tables}"))
    return time.perf_counter() - started


def seed_relations(conn: Any) -> None:
    """What the tagger and the clusterer would have stored: one article_theme row per
    theme bit (with evidence, as the chips show it), one or two sources per article,
    and story clusters whose members carry the other outlets."""
    conn.execute(text(
        "INSERT INTO article_source(article_id, feed_id, first_seen_at) "
        f"SELECT id, (id % {FEEDS}) + 1, first_seen_at FROM article"
    ))  # fmt: skip
    conn.execute(text(
        "INSERT INTO article_source(article_id, feed_id, first_seen_at) "
        f"SELECT id, ((id * 7) % {FEEDS}) + 1, first_seen_at FROM article "
        f"WHERE id % 10 = 0 AND ((id * 7) % {FEEDS}) <> (id % {FEEDS})"
    ))  # fmt: skip
    # Clusters: a run of up to 4 consecutive ids shares the cluster of its first id.
    conn.execute(text(
        f"UPDATE article SET cluster_id = id - (id % {CLUSTER_EVERY}) + 1 "
        f"WHERE id % {CLUSTER_EVERY} BETWEEN 1 AND 4"
    ))  # fmt: skip
    json = "CAST(:evidence AS json)" if conn.dialect.name == "postgresql" else ":evidence"
    for bit, key in enumerate(THEME_KEYS):
        evidence = f'[{{"term": "{key}", "field": "title", "start": 0, "end": {len(key)}}}]'
        conn.execute(
            text(
                "INSERT INTO article_theme(article_id, theme, score, evidence, origin, tag_version)"
                f" SELECT id, :theme, (id % 97) / 97.0, {json}, 'tagger', 'bench'"
                f" FROM article WHERE (theme_mask & {1 << bit}) <> 0"
            ),
            {"theme": key, "evidence": evidence},
        )


def timed(call: Callable[[], Any]) -> tuple[float, float]:
    call()  # warm caches and compiled statements
    samples = []
    for _ in range(REPEAT):
        started = time.perf_counter()
        response = call()
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, response.text[:300]
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def measure(db: Database, url: str, label: str) -> None:
    from fastapi.testclient import TestClient

    from app.web.app import create_app

    settings = Settings(database_url=url, data_dir=Path(tempfile.mkdtemp()), poll=False,
                        default_feeds=False, secret_key="bench-" + "x" * 40)  # fmt: skip
    app = create_app(settings, db=db, run_poller=False)
    year_ago = (datetime.now(UTC) - timedelta(days=365)).date().isoformat()
    cases = {
        "timeline HTML": "/",
        "timeline JSON": "/api/v1/articles",
        "filtered (theme+lang+30d)": "/api/v1/articles?theme=security&lang=de&since=30d",
        "full-text": "/api/v1/articles?q=datensicherheit+kooperation",
        # the page an analyst's search opens: the list and its volume chart (30 days)
        "full-text HTML (with its chart)": "/?q=datensicherheit+kooperation",
        "volume 1y": f"/api/v1/stats/volume?since={year_ago}",
        "volume 1y HTML chart": f"/?since={year_ago}",
        "volume 1y by outlet": f"/api/v1/stats/volume?since={year_ago}&group=source",
        "volume 1y by language": f"/api/v1/stats/volume?since={year_ago}&group=lang",
        "volume 1y HTML by outlet": f"/?since={year_ago}&group=source",
    }
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for name, path in cases.items():
            p50, p95 = timed(lambda path=path: client.get(path))
            target = TARGETS_MS.get(name)
            verdict = "" if target is None else (" ok" if p95 <= target else " OVER")
            goal = f" (target p95 <= {target} ms{verdict})" if target else ""
            print(f"{label:10} {name:28} p50 {p50:7.1f} ms  p95 {p95:7.1f} ms{goal}", flush=True)
        rps = throughput(client)
        print(f"{label:10} JSON API with 16 clients: {rps:.0f} requests/s", flush=True)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"{label:10} peak RSS {rss:.0f} MB (target < 300 MB)", flush=True)


def throughput(client: Any, clients: int = 16, seconds: float = 5.0) -> float:
    done = [0] * clients
    stop = time.perf_counter() + seconds

    def work(n: int) -> None:
        while time.perf_counter() < stop:
            client.get("/api/v1/articles")
            done[n] += 1

    threads = [threading.Thread(target=work, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / seconds


def run_sqlite() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(KEEP) if KEEP else Path(tmp) / "bench.db"
        url = f"sqlite:///{path}"
        seeded = path.exists()
        db = Database.from_url(url)
        migrate.upgrade(db.engine)
        if seeded:
            print(f"sqlite     reusing {path}", flush=True)
        else:
            print(f"sqlite     loaded {N:,} articles in {fill(db):.1f} s", flush=True)
        measure(db, url, "sqlite")
        db.dispose()


def run_postgres(base: str) -> None:
    schema = KEEP_SCHEMA or f"bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        seeded = bool(
            conn.scalar(text("SELECT 1 FROM pg_namespace WHERE nspname = :s"), {"s": schema})
        )
        if not seeded:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        engine = make_engine(base, connect_args={"options": f"-csearch_path={schema}"})
        db = Database(engine)
        migrate.upgrade(engine)
        if seeded:
            print(f"postgres   reusing schema {schema}", flush=True)
        else:
            print(f"postgres   loaded {N:,} articles in {fill(db):.1f} s", flush=True)
        measure(db, base, "postgres")
        db.dispose()
    finally:
        if not KEEP_SCHEMA:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


def main() -> None:
    if ONLY != "postgres":
        run_sqlite()
    if ONLY == "sqlite":
        return
    if base := os.environ.get("NEWSMON_TEST_POSTGRES_URL"):
        run_postgres(base)
    else:
        print("postgres   skipped: set NEWSMON_TEST_POSTGRES_URL to measure it")


if __name__ == "__main__":
    main()
