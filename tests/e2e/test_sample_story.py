"""Issue 13 §4: the bundled sample's items 012 and 013 are one wire story, the second
a republished copy that came through the same (sample) feed. Polled through the real
poller into a real database, the timeline shows the story as one card that says it
groups a copy ("+1 copy"), with a keyboard-reachable list linking to the other article;
the copy's own page lists its original."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient
from markupsafe import escape
from sqlalchemy import select

from app.store.db import Database
from app.store.feeds import SAMPLE_URL
from app.store.tables import Article
from tests.support.polling import add_feed, poll

GERMAN = {"Accept-Language": "de"}


def card_of(html: str, article_id: int) -> str:
    match = re.search(
        rf'<li class="card[^"]*" data-article-id="{article_id}".*?\n</li>', html, re.S
    )
    assert match, f"no card for article {article_id}"
    return match.group(0)


def test_the_sample_republished_copy_shows_as_one_card_marked_plus_one_copy(
    db: Database, client: TestClient, make_test_poller: Any
) -> None:
    add_feed(db, SAMPLE_URL)
    [result] = poll(make_test_poller)
    assert result.outcome == "ok"
    with db.read() as session:
        rows = {
            guid: (article_id, title)
            for guid, article_id, title in session.execute(
                select(Article.guid, Article.id, Article.title).where(
                    Article.guid.in_(["sample-012", "sample-013"])
                )
            )
        }
    (copy_id, copy_title), (original_id, original_title) = rows["sample-012"], rows["sample-013"]

    html = client.get("/").text

    cards = re.findall(r'data-article-id="(\d+)"', html)
    assert len(cards) == len(set(cards))
    story_cards = [int(c) for c in cards if int(c) in (copy_id, original_id)]
    assert story_cards == [copy_id]  # one card for the story, at its newest article
    card = card_of(html, copy_id)
    assert "+1 copy" in card
    assert f'<a href="/articles/{original_id}">{escape(original_title)}</a>' in card
    assert "+1 sources" not in card  # one feed carried both: no second outlet is claimed

    german = card_of(client.get("/", headers=GERMAN).text, copy_id)
    assert "+1 Kopie" in german and "Dieselbe Meldung" in german

    page = client.get(f"/articles/{original_id}").text
    assert f'<a href="/articles/{copy_id}">' in page and "grouped here" in page
    assert copy_title  # the copy keeps its own headline on its own card
