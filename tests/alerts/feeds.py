"""Feeds for the alerts tests: fresh entries (an alert is for news, not a back catalogue)
whose tags are known: two security/regulatory stories (English, German), a market one,
and one the tagger drops as irrelevant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.support.rss import Item, rss

SECURITY_EN = (
    "Senators question data sharing between Amazon and TikTok Shop",
    "A group of senators asked for an account of how shoppers who watch TikTok videos are "
    "sent to Amazon product pages, and which customer data travels between the companies. "
    "Privacy and national security concerns.",
)
SECURITY_DE = (
    "Bundestag debattiert TikTok-Verbot und Amazon-Kooperation",
    "Abgeordnete fordern Auskunft über Datenschutz und Sicherheit bei der Zusammenarbeit "
    "von Amazon und TikTok Shop.",
)
MARKET = (
    "Amazon and TikTok shopping deal lifts sales for merchants",
    "Merchants selling on TikTok Shop and Amazon report higher revenue and market share after "
    "the deal; analysts expect a bid.",
)
BAKERY = ("Local bakery wins prize", "The bakery on main street won a regional bread prize.")


def item(n: int, story: tuple[str, str], *, minutes_ago: int = 30, tag: str = "") -> Item:
    title, body = story
    return Item(
        f"{title}{tag}",
        f"https://news.example/{n}",
        f"<p>{body}</p>",
        published=datetime.now(UTC) - timedelta(minutes=minutes_ago),
    )


def mixed_feed(start: int = 1, tag: str = "") -> bytes:
    return rss(
        [
            item(start, SECURITY_EN, tag=tag),
            item(start + 1, SECURITY_DE, tag=tag),
            item(start + 2, MARKET, tag=tag),
            item(start + 3, BAKERY, tag=tag),
        ],
        title="Outlet One",
    )
