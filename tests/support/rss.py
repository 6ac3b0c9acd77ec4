"""Build small RSS documents for tests (real bytes, parsed by the real parser)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

BASE = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Item:
    title: str
    link: str
    body: str = ""
    guid: str | None = None
    published: datetime | None = BASE


def rss(items: list[Item], *, title: str = "Test outlet") -> bytes:
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>',
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">',
        f"<channel><title>{escape(title)}</title><link>https://outlet.example/</link>",
        "<description>test</description>",
    ]
    for item in items:
        parts.append("<item>")
        parts.append(f"<title>{escape(item.title)}</title><link>{escape(item.link)}</link>")
        if item.guid:
            parts.append(f'<guid isPermaLink="false">{escape(item.guid)}</guid>')
        if item.published:
            parts.append(f"<pubDate>{format_datetime(item.published)}</pubDate>")
        if item.body:
            parts.append(f"<content:encoded><![CDATA[{item.body}]]></content:encoded>")
        parts.append("</item>")
    parts.append("</channel></rss>")
    return "\n".join(parts).encode()


RELEVANT_BODY = (
    "<p>Amazon and TikTok have expanded their partnership: TikTok users can now buy "
    "Amazon products without leaving the app after linking their accounts.</p>"
    "<p>The integration shows Amazon prices, Prime eligibility and delivery estimates "
    "inside TikTok. Sellers and brands expect higher sales from the deal.</p>"
    "<p>Lawmakers raised data security concerns about the Amazon-TikTok integration, "
    "asking whether ByteDance could access shoppers' data.</p>"
)


def story(n: int, *, hours_ago: int = 0, outlet: str = "outlet.example") -> Item:
    return Item(
        title=f"Amazon and TikTok shopping deal, part {n}",
        link=f"https://{outlet}/news/{n}",
        body=RELEVANT_BODY.replace("partnership", f"partnership (update {n})"),
        published=BASE - timedelta(hours=hours_ago or n),
    )
