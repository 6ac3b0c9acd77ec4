"""A 100,000-row export streams: the server's peak memory grows by a bounded amount
however many rows go out (``newsmon serve`` as a real process; its peak is read from
/proc after resetting it, so start-up does not count)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from tests.support.served import Served, serve

ROWS = 100_000
MAX_GROWTH_MB = 60  # a page of 200 rows and the buffers; the whole CSV is ~60 MB
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def seed_rows(path: str, count: int) -> None:
    """``count`` articles of one feed, one executemany per table, straight into the
    SQLite file (the ORM's bulk path costs ~1 ms a row; this, a few seconds in all)."""
    stamp = "2025-01-01 00:00:00.000000"  # naive UTC, as the store writes SQLite times
    articles = [
        (
            i,
            f"https://news.example/{i}",
            hashlib.sha256(str(i).encode()).hexdigest(),
            f"Amazon and TikTok, story number {i}",
            f"<p>Summary {i}: a few words of text about the deal.</p>",
            (T0 + timedelta(minutes=i)).strftime("%Y-%m-%d %H:%M:%S.%f"),
            stamp,
            stamp,
        )
        for i in range(1, count + 1)
    ]
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO feed (id, url, url_hash, title, created_at, next_poll_at,"
            " interval_seconds, consecutive_failures, redirect_count)"
            " VALUES (1, 'https://news.example/feed', ?, 'Example News', ?, ?, 3600, 0, 0)",
            ("f" * 64, stamp, stamp),
        )
        conn.executemany(
            "INSERT INTO article (id, url, url_hash, key_kind, title, summary, content, text,"
            " language, published_at, published_estimated, first_seen_at, updated_at,"
            " relevance_score, relevance_reason, relevance_evidence, tagger_relevant,"
            " relevant, theme_mask, theme_scores)"
            " VALUES (?, ?, ?, 'url', ?, ?, '', '', 'en', ?, 0, ?, ?, 0.5, 'test', '[]',"
            " 1, 1, 0, '{}')",
            articles,
        )
        conn.executemany(
            "INSERT INTO article_source (article_id, feed_id, first_seen_at) VALUES (?, 1, ?)",
            [(i, stamp) for i in range(1, count + 1)],
        )


def memory_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def export(served: Served, fmt: str) -> tuple[int, str, float]:
    """Rows received, the first line, and the server's peak RSS growth in MB."""
    url = f"{served.base}/export.{fmt}?relevance=all"
    httpx.get(url + "&since=2030-01-01", timeout=60)  # warm up the code paths
    pid = served.proc.pid
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # peak := current
    before = memory_kb(pid, "VmRSS")
    rows, first = 0, ""
    with httpx.stream("GET", url, timeout=600) as response:
        assert response.status_code == 200
        for line in response.iter_lines():
            first = first or line
            rows += 1
    return rows, first, (memory_kb(pid, "VmHWM") - before) / 1024


def test_100k_row_exports_stream_at_bounded_memory(tmp_path: Path) -> None:
    with serve("sqlite", tmp_path) as served:
        seed_rows(served.env["NEWSMON_DATABASE_URL"].removeprefix("sqlite:///"), ROWS)
        csv_rows, csv_first, csv_growth = export(served, "csv")
        jsonl_rows, jsonl_first, jsonl_growth = export(served, "jsonl")
    print(f"peak RSS growth for {ROWS} rows: CSV {csv_growth:.1f} MB, JSONL {jsonl_growth:.1f} MB")
    assert csv_rows == ROWS + 1 and next(csv.reader(io.StringIO(csv_first)))[0] == "id"
    assert jsonl_rows == ROWS and json.loads(jsonl_first)["id"] == ROWS  # newest first
    assert csv_growth < MAX_GROWTH_MB and jsonl_growth < MAX_GROWTH_MB
