"""``newsmon retag`` over 100,000 stored articles on SQLite (target: under 2 minutes).

Run: ``python -m bench retag``. A temporary SQLite database is migrated with
Alembic and filled by one ``executemany`` with the dev set repeated to
``N_ARTICLES`` rows (distinct ids, URLs and hashes; the stored form: title,
sanitised summary HTML, content HTML, plain text, language hint). Then
``retag_all(db, batch=1000)`` is timed on the wall clock (it is I/O and CPU),
and its tagging share is reported next to the write share so a slow run shows
where the time went.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import resource
import tempfile
import time
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from typing import Any

from sqlalchemy import insert

from app.core.text import html_to_text
from app.store.db import Database
from app.store.migrate import upgrade
from app.store.tables import Article

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "labels" / "articles.jsonl"
N_ARTICLES = 100_000
BATCH = 1000
TARGET_SECONDS = 120.0
_INSERT_CHUNK = 10_000


def _rows(n: int) -> list[dict[str, Any]]:
    dev = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line]
    base = datetime(2024, 1, 1, tzinfo=UTC)
    texts = [html_to_text(r["content"]) for r in dev]
    rows = []
    cycle = itertools.cycle(zip(dev, texts, strict=True))
    for k, (r, text) in enumerate(itertools.islice(cycle, n)):
        url = f"{r['url']}?n={k}"
        now = base + timedelta(minutes=k)
        rows.append(
            {
                "url": url,
                "url_hash": hashlib.sha256(url.encode()).hexdigest(),
                "key_kind": "url",
                "guid": f"{r['id']}-{k}",
                "title": r["title"],
                "author": None,
                "summary": f"<p>{escape(r['summary'])}</p>" if r["summary"] else "",
                "content": r["content"],
                "text": text,
                "language": r["lang"],
                "published_at": now,
                "published_estimated": False,
                "first_seen_at": now,
                "updated_at": now,
                "relevance_score": 0.0,
                "relevance_reason": "",
                "relevance_evidence": [],
                "tagger_relevant": False,
                "relevant": False,
                "theme_mask": 0,
                "theme_scores": {},
            }
        )
    return rows


def fill(db: Database, n: int = N_ARTICLES) -> float:
    """Insert ``n`` articles; seconds taken.

    On SQLite one DB-API ``executemany`` with the values as SQLAlchemy stores
    them there (naive UTC datetime text, JSON text), since SQLAlchemy's own
    per-row type processing would take longer than the re-tag; elsewhere a
    Core insert.
    """
    started = time.perf_counter()
    rows = _rows(n)
    table = Article.__table__
    if db.dialect != "sqlite":
        with db.write() as session:
            for k in range(0, len(rows), _INSERT_CHUNK):
                session.execute(insert(table), rows[k : k + _INSERT_CHUNK])  # type: ignore[arg-type]
        return time.perf_counter() - started
    columns = list(rows[0])
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "  # type: ignore[attr-defined]
        f"VALUES ({', '.join('?' * len(columns))})"
    )
    raw = db.engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute("BEGIN")
        cursor.executemany(sql, [[_sqlite_value(r[c]) for c in columns] for r in rows])
        cursor.execute("COMMIT")
    finally:
        raw.close()
    return time.perf_counter() - started


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value


def main(n: int = N_ARTICLES, workers: int = 0) -> float:
    from app.services.retag import retag_all

    with tempfile.TemporaryDirectory(prefix="newsmon-bench-retag-") as tmp:
        db = Database.from_url(f"sqlite:///{tmp}/bench.db")
        try:
            upgrade(db.engine)
            filled = fill(db, n)
            print(f"filled {n:,} articles in {filled:.1f} s")
            started = time.perf_counter()
            cpu, children = time.process_time(), _children_cpu()
            done = retag_all(db, batch=BATCH, workers=workers)
            seconds = time.perf_counter() - started
            cpu, children = time.process_time() - cpu, _children_cpu() - children
        finally:
            db.dispose()
    assert done == n, (done, n)
    verdict = "OK" if seconds < TARGET_SECONDS * n / N_ARTICLES else "SLOW"
    print(
        f"retag {n:,} articles (batch {BATCH}, workers {workers}):"
        f" {seconds:.1f} s wall, {n / seconds:,.0f} articles/s; target {TARGET_SECONDS:.0f} s"
        f" per {N_ARTICLES:,}: {verdict}"
    )
    # On a shared machine wall time includes waiting for a CPU; the CPU time
    # says what the run costs (this process reads and writes, workers tag).
    print(
        f"  CPU: {cpu:.1f} s this process + {children:.1f} s tagging workers"
        f" = {(cpu + children) * 1e6 / n:,.0f} us per article"
    )
    return seconds


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    main()
