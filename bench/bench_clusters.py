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

The generated corpora never change a word of a republished headline; real republishers
do, and the story keys' min-hash look-ups exist for those copies. So a third check,
``headline_edits``, runs on real headlines of the monitored story: the 301 hand-labelled
articles in ``tests/data/labels`` (five languages). Each is stored, then a republished copy
of it (the same text under another URL) with one edit to its headline: a word replaced
by another headline's word, two words replaced, a word added, a word dropped. Between
the two, ``STREAMS`` other labelled articles of the same topic are stored, newer than the
original, as on a busy news day: they share the headline's common words ("Amazon",
"TikTok") and so compete for the look-up's capped rows. A copy counts as found when it
joins its original's story; an edit that leaves less than half of the headline's words
shared is refused by design (``TITLE_AGREEMENT``) and counted apart. Every trial has a
time slot of its own, two cluster windows apart, so trials never see each other.
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from importlib import resources
from itertools import combinations
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.core.decide import ArticleDraft, plan_articles
from app.core.fingerprint import TITLE_AGREEMENT, jaccard, title_terms
from app.core.text import html_to_text
from app.core.types import ParsedEntry, ParsedFeed
from app.feeds.parse import parse_feed
from app.store import migrate
from app.store.article_writes import ArticleWrites
from app.store.db import Database
from app.store.feeds import FeedStore
from app.store.stored import CLUSTER_WINDOW
from app.store.tables import Article
from bench.bench_poller import peer_corpus_path

TARGET = 0.95
NOW = datetime(2026, 12, 1, tzinfo=UTC)
EDITS = ("one word replaced", "two words replaced", "one word added", "one word dropped")
STREAMS = (0, 30, 100)  # same-topic articles stored between an original and its copy
WIRE, COPIES = "https://wire.example/feed", "https://copies.example/feed"


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


def labelled() -> list[tuple[str, str]]:
    """(headline, text) of the hand-labelled articles: real headlines of one story."""
    from app.tagging.evaluate import DEFAULT_FILES, read_labelled

    out = []
    for path in DEFAULT_FILES:
        for row in read_labelled(path):
            text = "\n\n".join(
                part
                for part in (html_to_text(row["summary"] or ""), html_to_text(row["content"] or ""))
                if part
            )
            out.append((row["title"], text or row["title"]))
    return out


def edit_headline(title: str, kind: str, vocabulary: list[str], rng: random.Random) -> str:
    """``title`` with one edit of ``kind`` (``EDITS``), words drawn from ``vocabulary``."""
    words = title.split()
    if kind == "one word replaced":
        words[rng.randrange(len(words))] = rng.choice(vocabulary)
    elif kind == "two words replaced":
        for index in rng.sample(range(len(words)), min(2, len(words))):
            words[index] = rng.choice(vocabulary)
    elif kind == "one word added":
        words.insert(rng.randrange(len(words) + 1), rng.choice(vocabulary))
    elif kind == "one word dropped" and len(words) > 1:
        del words[rng.randrange(len(words))]
    return " ".join(words)


def entry(url: str, title: str, text: str, published: datetime) -> ParsedEntry:
    return ParsedEntry(guid=None, url=url, title=title, text=text, published_at=published)


def planned(feed_url: str, entries: list[ParsedEntry]) -> list[ArticleDraft]:
    """The drafts the poller would store for ``entries``: identity and story keys by
    the ingest's own planning step."""
    parsed = ParsedFeed(title=None, site_url=None, entries=tuple(entries))
    return plan_articles(parsed, feed_url=feed_url, now=NOW)


def headline_edits(
    tmp: Path,
    articles: list[tuple[str, str]] | None = None,
    *,
    edits: tuple[str, ...] = EDITS,
    streams: tuple[int, ...] = STREAMS,
    pool: list[tuple[str, str]] | None = None,
) -> dict[tuple[str, int], tuple[int, int, int]]:
    """Per (edit, stream size): (copies found, copies looked up, edits refused).

    ``articles``: (headline, text) pairs, the labelled ones by default; each stream is
    drawn from the other articles, or from ``pool`` when given. Headline-only articles
    are not tried (``labelled`` gives them their headline as text)."""
    articles = articles if articles is not None else labelled()
    vocabulary = sorted({w for title, _ in articles for w in title.split() if len(w) > 3})
    db = Database.from_url(f"sqlite:///{Path(tempfile.mkdtemp(dir=tmp)) / 'edits.db'}")
    migrate.upgrade(db.engine)
    with db.write() as session:
        feeds = FeedStore(session)
        wire = feeds.add(WIRE, now=NOW).id
        copies = feeds.add(COPIES, now=NOW).id
    # A headline-only item (its text is its headline) has no body once planned, and a
    # story needs one: it is not tried as an original, only met in the streams.
    bodied = [index for index, (title, text) in enumerate(articles) if text != title]
    results: dict[tuple[str, int], tuple[int, int, int]] = {}
    slot = 0
    for kind in edits:
        edit_rng = random.Random(kind)  # the same edits whatever the stream
        edited = [edit_headline(title, kind, vocabulary, edit_rng) for title, _ in articles]
        kept = [
            index
            for index in bodied
            if jaccard(title_terms(articles[index][0]), title_terms(edited[index]))
            >= TITLE_AGREEMENT
        ]
        for stream in streams:
            rng = random.Random(f"{kind}/{stream}")
            pairs_: list[tuple[str, str]] = []
            originals: list[list[ArticleDraft]] = []
            copies_: list[ArticleDraft] = []
            for index in kept:
                title, text = articles[index]
                others = rng.sample(
                    pool if pool is not None else articles[:index] + articles[index + 1 :], stream
                )
                slot += 1
                start = NOW + slot * 2 * CLUSTER_WINDOW
                url = f"https://wire.example/{slot}"
                originals.append(
                    planned(
                        WIRE,
                        [entry(url, title, text, start)]
                        + [
                            entry(f"{url}/{n}", t, body, start + timedelta(minutes=n + 1))
                            for n, (t, body) in enumerate(others)
                        ],
                    )
                )
                copy_url = f"https://copies.example/{slot}"
                copies_.extend(
                    planned(
                        COPIES,
                        [
                            entry(
                                copy_url, edited[index], text, start + timedelta(minutes=stream + 1)
                            )
                        ],
                    )
                )
                pairs_.append((url, copy_url))
            # Each trial is its own batch (the look-up's window is its batch's), the
            # originals and their streams first, then every copy.
            with db.write() as session:
                writes = ArticleWrites(session)
                for batch in originals:
                    writes.upsert_batch(wire, batch, now=NOW)
            with db.write() as session:
                writes = ArticleWrites(session)
                for copy in copies_:
                    writes.upsert_batch(copies, [copy], now=NOW)
            wanted = [u for pair in pairs_ for u in pair]
            with db.read() as session:
                story = dict(
                    session.execute(
                        select(Article.url, Article.cluster_id).where(Article.url.in_(wanted))
                    ).all()
                )
            found = sum(1 for u, c in pairs_ if story[u] is not None and story[u] == story[c])
            results[(kind, stream)] = (found, len(pairs_), len(bodied) - len(kept))
    db.dispose()
    return results


def print_headline_edits(results: dict[tuple[str, int], tuple[int, int, int]]) -> None:
    print(
        "real headlines, republished with one edit, after N other articles of the story "
        "(copies that joined their original's story; edits the headline check refuses "
        "apart):"
    )
    rows: dict[str, list[str]] = {}
    refusals: dict[str, int] = {}
    for (kind, stream), (found, tried, refused) in results.items():
        rows.setdefault(kind, []).append(f"N={stream}: {found / tried:.3f} of {tried}")
        refusals[kind] = refused
    for kind, cells in rows.items():
        print(f"  {kind:<19} " + ", ".join(cells) + f" ({refusals[kind]} refused)")


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="newsmon-clusters-") as name:
        tmp = Path(name)
        sample_check(tmp)
        articles = labelled()
        headline_only = sum(1 for title, text in articles if text == title)
        print_headline_edits(headline_edits(tmp, articles))
        print(f"  ({headline_only} headline-only articles not tried: no body to compare)")
        folder = peer_corpus_path()
        if not (folder / "entries.jsonl").exists():
            print(
                f"no corpus at {folder}: generate it with ../shared/bench/gen_corpus.py "
                "(see its README) or set NEWSBENCH_CORPUS"
            )
            return
        corpus_scores(folder, tmp)


if __name__ == "__main__":
    main()
