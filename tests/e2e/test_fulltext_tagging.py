"""The tagger's figures hold on page text: the hand-labelled development set served as
teaser feeds (title and summary) plus article pages (the text inside the loopback
site's boilerplate), polled and extracted, then scored like ``newsmon eval``."""

from __future__ import annotations

import asyncio
import html
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from app.core.timeline import THEMES
from app.feeds.http import FetchPolicy
from app.polling.extraction import ExtractionConfig, ExtractionRunner, enqueue_hook
from app.store.db import Database
from app.store.extraction import FullTextRules
from app.store.tables import Article, ArticleTheme, Extraction
from app.tagging.evaluate import Confusion, read_labelled
from tests.support.newssite import NewsSite, wrap_page
from tests.support.polling import add_feed, poll

DEV = Path(__file__).resolve().parents[1] / "data" / "labels" / "articles.jsonl"


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with NewsSite() as server:
        yield server


def serve_corpus(site: NewsSite) -> tuple[str, dict[str, dict[str, Any]]]:
    items = {}
    links = []
    for item in read_labelled(DEV):
        path = f"/dev/{item['id']}"
        url = site.url(path)
        body = f"<h1>{html.escape(item['title'])}</h1>"
        body += f"<p class='lead'>{html.escape(item['summary'])}</p>{item['content']}"
        site.pages[path] = wrap_page(item["lang"], item["title"], url, body)
        items[url] = item
        links.append((item["title"], url))
    # One feed with every entry's summary as its teaser: the shape of a teaser feed.
    rss = "".join(
        f"<item><title>{html.escape(t)}</title><link>{html.escape(u)}</link>"
        f"<description>{html.escape(items[u]['summary'])}</description></item>"
        for t, u in links
    )
    site.feeds["/feed/dev.xml"] = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>dev</title>'
        f"<link>{site.url('/')}</link><description>d</description>{rss}</channel></rss>"
    ).encode()
    return site.url("/feed/dev.xml"), items


def test_relevance_and_themes_hold_on_page_text(
    db: Database, site: NewsSite, make_test_poller: Any, loopback_policy: FetchPolicy
) -> None:
    feed_url, items = serve_corpus(site)
    add_feed(db, feed_url)
    poll(make_test_poller, on_new=enqueue_hook(FullTextRules(default_policy="always")))
    config = ExtractionConfig(workers=0, min_delay=0.0, per_host=4)
    policy = replace(loopback_policy, read_timeout=10.0, deadline=20.0)
    asyncio.run(ExtractionRunner(db, policy, config).run_once())

    tables = {"relevance": Confusion(), **{t: Confusion() for t in THEMES}}
    with db.read() as session:
        outcomes = dict(session.execute(select(Extraction.article_id, Extraction.outcome)).all())
        for article in session.scalars(select(Article)):
            item = items[article.url]
            assert article.text_source == "page", (item["id"], outcomes[article.id])
            tables["relevance"].add(item["id"], item["relevant"], article.tagger_relevant, "")
            got = set(
                session.scalars(
                    select(ArticleTheme.theme).where(
                        ArticleTheme.article_id == article.id, ArticleTheme.origin == "tagger"
                    )
                )
            )
            for theme in THEMES:
                tables[theme].add(item["id"], theme in item.get("themes", ()), theme in got, "")
    assert len(outcomes) == len(items)
    assert tables["relevance"].metrics()["f1"] >= 0.95
    for theme in THEMES:
        assert tables[theme].metrics()["f1"] >= 0.92, (theme, tables[theme].misses)
