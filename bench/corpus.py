"""A deterministic corpus of feeds for the poller benchmark.

``corpus(feeds, entries)`` returns ``{path: body}``: RSS feeds in mixed languages,
with syndicated duplicates (the same article URL in several feeds, and near-copies
under other URLs) and some broken feeds (truncated XML, an HTML page, garbage).
Same arguments, same bytes.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape

BASE = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
BROKEN_EVERY = 40  # one feed in 40 is broken

PHRASES = {
    "en": [
        "Amazon and TikTok expand their shopping partnership",
        "retailers report strong holiday demand across the region",
        "regulators question how shopper data is shared between platforms",
        "sellers expect higher sales from in-app checkout",
        "logistics costs weigh on quarterly margins",
    ],
    "de": [
        "Amazon und TikTok bauen ihre Einkaufspartnerschaft aus",
        "Händler melden eine starke Nachfrage im Weihnachtsgeschäft",
        "Regulierer fragen, wie Kundendaten zwischen Plattformen geteilt werden",
        "Verkäufer erwarten höhere Umsätze durch den Kauf in der App",
    ],
    "fr": [
        "Amazon et TikTok élargissent leur partenariat commercial",
        "les distributeurs constatent une forte demande pendant les fêtes",
        "les régulateurs s'interrogent sur le partage des données des clients",
    ],
    "es": [
        "Amazon y TikTok amplían su alianza de compras",
        "los minoristas registran una fuerte demanda navideña",
        "los reguladores cuestionan cómo se comparten los datos de los compradores",
    ],
}


def _paragraphs(rng: random.Random, language: str, n: int) -> str:
    phrases = PHRASES[language]
    sentences = [
        f"{rng.choice(phrases).capitalize()}, {rng.choice(phrases)} ({rng.randrange(10_000)})."
        for _ in range(n)
    ]
    return "".join(f"<p>{escape(s)} <a href='https://ref.example/{i}'>more</a></p>" for i, s in
                   enumerate(sentences))  # fmt: skip


def _item(rng: random.Random, feed: int, n: int, language: str, shared: bool) -> str:
    if shared:  # syndicated: the same article in several feeds
        article = rng.randrange(200)
        link = f"https://wire.example/story/{article}?utm_source=feed{feed}"
        title = f"Wire story {article}: {PHRASES['en'][article % 5]}"
        body = f"<p>{escape(PHRASES['en'][article % 5])}. Wire copy number {article}.</p>" * 3
    else:
        link = f"https://outlet{feed}.example/{language}/news/{n}"
        title = f"{rng.choice(PHRASES[language]).capitalize()} #{feed}-{n}"
        body = _paragraphs(rng, language, rng.randrange(2, 6))
    published = BASE - timedelta(minutes=37 * n + feed)
    return (
        f"<item><title>{escape(title)}</title><link>{escape(link)}</link>"
        f'<guid isPermaLink="false">{feed}-{n}</guid>'
        f"<pubDate>{format_datetime(published)}</pubDate>"
        f"<description>{escape(body[:300])}</description>"
        f"<content:encoded><![CDATA[{body}]]></content:encoded></item>"
    )


def feed(index: int, entries: int, seed: int = 0) -> bytes:
    rng = random.Random(seed * 1_000_003 + index)
    language = list(PHRASES)[index % len(PHRASES)]
    if index % BROKEN_EVERY == BROKEN_EVERY - 1:
        kind = (index // BROKEN_EVERY) % 3
        if kind == 0:
            return b"<html><body><h1>Not a feed</h1></body></html>"
        if kind == 1:
            return b"\x00\x01 garbage <<<"
        whole = feed(index + 1, entries, seed)
        return whole[: len(whole) // 2]  # truncated: recovered entries are kept
    items = [_item(rng, index, n, language, shared=rng.random() < 0.1) for n in range(entries)]
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>Outlet {index} ({language})</title>"
        f"<link>https://outlet{index}.example/</link><language>{language}</language>"
        f"<description>bench</description>{''.join(items)}</channel></rss>"
    ).encode()


def corpus(feeds: int, entries: int, seed: int = 0) -> dict[str, bytes]:
    return {f"/feed/{i}.xml": feed(i, entries, seed) for i in range(feeds)}
