"""Story clusters against ground truth: pairwise precision and recall.

``python -m bench clusters``. The corpus is the peer benchmark's
(``../shared/bench/gen_corpus.py``, default ``/tmp/newsbench/corpus``, or
``NEWSBENCH_CORPUS``): its ``entries.jsonl`` gives every entry's story id. Each
feed file is parsed and planned as the poller would (no tagging: clusters do not
depend on it) and stored through ``ArticleWrites`` into a fresh SQLite file, feed
after feed. An entry's predicted story is its article's cluster (the article
itself when unclustered), so copies that share a canonical URL count as grouped,
as they are on the timeline. Pairs are pairs of entries; precision = correct
pairs / predicted pairs, recall = correct pairs / true pairs (issue 16 and 13:
both >= 0.95). Also checks that the bundled sample's items 012 and 013 (one
republished story) land in one cluster.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from importlib import resources
from itertools import combinations
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.core.decide import ArticleDraft, plan_articles
from app.feeds.parse import parse_feed
from app.store import migrate
from app.store.article_writes import ArticleWrites
from app.store.db import Database
from app.store.feeds import FeedStore
from app.store.tables import Article

TARGET = 0.95
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def corpus_dir() -> Path:
    return Path(os.environ.get("NEWSBENCH_CORPUS", "/tmp/newsbench/corpus"))


def ingest(url: str, feeds: dict[str, list[ArticleDraft]]) -> dict[str, tuple[int, int]]:
    """Store the drafts feed by feed; ``{key: (article id, story id)}``."""
    db = Database.from_url(url)
    migrate.upgrade(db.engine)
    with db.write() as session:
        store = FeedStore(session)
        ids = {feed_url: store.add(feed_url, now=NOW).id for feed_url in feeds}
    for feed_url, drafts in feeds.items():
        with db.write() as session:
            ArticleWrites(session).upsert_batch(ids[feed_url], drafts, now=NOW)
    with db.read() as session:
        rows = session.execute(select(Article.url_hash, Article.id, Article.cluster_id))
        found = {key: (ident, cluster or ident) for key, ident, cluster in rows}
    db.dispose()
    return found


def pairs(labels: list[Any]) -> set[tuple[int, int]]:
    groups: dict[Any, list[int]] = defaultdict(list)
    for index, label in enumerate(labels):
        groups[label].append(index)
    return {pair for members in groups.values() for pair in combinations(members, 2)}


def corpus_scores(folder: Path, tmp: Path) -> None:
    truth_rows = [json.loads(line) for line in (folder / "entries.jsonl").open()]
    by_feed: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in truth_rows:
        by_feed[row["feed"]].append(row)
    feeds: dict[str, list[ArticleDraft]] = {}
    entry_keys: list[tuple[int, str]] = []  # (story id, article key) per matched entry
    started = time.process_time()
    for path in sorted((folder / "feeds").glob("*.xml")):
        feed_url = f"http://127.0.0.1:8765/feeds/{path.name}"
        parsed = parse_feed(path.read_bytes(), url=feed_url, now=NOW)
        drafts = plan_articles(parsed, feed_url=feed_url, now=NOW)
        feeds[feed_url] = drafts
        by_id = {r["id"]: r for r in by_feed[path.stem]}
        by_link = {r["link"]: r for r in by_feed[path.stem]}
        for draft in drafts:
            row = by_id.get(draft.guid) or by_link.get(draft.url) or by_id.get(draft.url)
            if row is not None:
                entry_keys.append((row["story_id"], draft.key))
    parse_cpu = time.process_time() - started
    started = time.process_time()
    stored = ingest(f"sqlite:///{tmp / 'clusters.db'}", feeds)
    write_cpu = time.process_time() - started
    matched = [(story, stored[key][1]) for story, key in entry_keys if key in stored]
    truth = pairs([story for story, _ in matched])
    predicted = pairs([cluster for _, cluster in matched])
    correct = len(truth & predicted)
    precision = correct / len(predicted) if predicted else 1.0
    recall = correct / len(truth) if truth else 1.0
    clustered = sum(1 for ident, cluster in stored.values() if ident != cluster)
    print(
        f"corpus {folder}: {len(truth_rows):,} entries written, {len(matched):,} stored and "
        f"matched to their story, {len(stored):,} articles, {clustered:,} joined to a story; "
        f"parse {parse_cpu:.1f} s, store {write_cpu:.1f} s CPU"
    )
    print(
        f"story pairs: {len(truth):,} true, {len(predicted):,} predicted, {correct:,} correct: "
        f"precision {precision:.3f} (target >= {TARGET}), recall {recall:.3f} "
        f"(target >= {TARGET})"
    )


def sample_check(tmp: Path) -> None:
    body = resources.files("app.data").joinpath("sample.xml").read_bytes()
    drafts = plan_articles(parse_feed(body, url="sample:", now=NOW), feed_url="sample:", now=NOW)
    stored = ingest(f"sqlite:///{tmp / 'sample.db'}", {"https://sample.example/feed": drafts})
    story = {d.guid: stored[d.key][1] for d in drafts}
    together = story.get("sample-012") == story.get("sample-013")
    others = sum(1 for ident, cluster in stored.values() if ident != cluster) - 1
    print(
        f"sample: items 012 and 013 {'in one story' if together else 'NOT in one story'} "
        f"(target: one story); other sample articles joined to a story: {max(others, 0)}"
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="newsmon-clusters-") as name:
        tmp = Path(name)
        sample_check(tmp)
        folder = corpus_dir()
        if not (folder / "entries.jsonl").exists():
            print(
                f"no corpus at {folder}: generate it with ../shared/bench/gen_corpus.py "
                "(see its README) or set NEWSBENCH_CORPUS"
            )
            return
        corpus_scores(folder, tmp)


if __name__ == "__main__":
    main()
