"""The parse worker tags each draft with the summary's plain text the parser already made
for the entry's text (``ParsedEntry.summary_text``) instead of converting the summary's
HTML again: the tags must be exactly those of tagging the stored draft afresh, whether
the summary is the content's lead, a paragraph of its own, absent, or the text of an
untitled entry."""

from __future__ import annotations

from datetime import UTC, datetime

from app.core.decide import ArticleDraft, Tags
from app.core.text import html_to_text
from app.feeds.parse import parse_feed
from app.polling.ingest import prepare_feed
from app.tagging import load_tagger
from app.tagging.apply import tag_article

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
URL = "https://wire.example/feed"
RSS = b"""<?xml version="1.0"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel>
<title>Wire</title><link>https://wire.example/</link><description>d</description>
<item><title>Lead repeated</title><link>https://wire.example/lead</link>
<pubDate>Tue, 01 Dec 2026 10:00:00 GMT</pubDate>
<description>&lt;p&gt;Amazon and TikTok extend their &lt;b&gt;shopping&lt;/b&gt;
deal.&lt;/p&gt;</description>
<content:encoded><![CDATA[<p>Amazon and TikTok extend their <b>shopping</b> deal.</p>
<p>Lawmakers asked regulators to review how user data is shared.</p>]]></content:encoded></item>
<item><title>Separate teaser</title><link>https://wire.example/teaser</link>
<pubDate>Tue, 01 Dec 2026 11:00:00 GMT</pubDate>
<description>Senators question the data-security risks of the
TikTok &amp;amp; Amazon link.</description>
<content:encoded><![CDATA[<p>Merchants report higher sales through in-app checkout.</p>]]>
</content:encoded></item>
<item><link>https://wire.example/untitled</link>
<pubDate>Tue, 01 Dec 2026 12:00:00 GMT</pubDate>
<description>&lt;p&gt;Shoppers on TikTok can now buy Amazon products&lt;/p&gt;&lt;p&gt;The FTC
is looking at the partnership and its privacy terms.&lt;/p&gt;</description>
<content:encoded><![CDATA[<p>Brands selling on Amazon see new customers from TikTok.</p>]]>
</content:encoded></item>
<item><title>Headline only</title><link>https://wire.example/bare</link>
<pubDate>Tue, 01 Dec 2026 13:00:00 GMT</pubDate></item>
</channel></rss>"""


def test_the_parser_keeps_the_summary_text_it_made() -> None:
    parsed = parse_feed(RSS, url=URL, headers={}, now=NOW)
    assert len(parsed.entries) == 4
    for entry in parsed.entries:
        assert entry.summary_text == html_to_text(entry.summary_html)
    assert parsed.entries[1].summary_text.startswith("Senators question")
    assert parsed.entries[3].summary_text == ""


def _tag_afresh(draft: ArticleDraft, summary_text: str | None = None) -> Tags:
    return tag_article(
        load_tagger(),
        title=draft.title,
        summary_html=draft.summary,
        text=draft.text,
        language=draft.language,
        summary_text=summary_text,
    )


def test_worker_tags_equal_tagging_each_draft_afresh() -> None:
    prepared = prepare_feed(RSS, URL, {}, NOW)
    assert len(prepared.drafts) == 4
    for draft in prepared.drafts:
        assert draft.tags == _tag_afresh(draft), draft.url
    # The parameter is used: a plain summary that is not the body's lead is tagged as a
    # field of its own (so a wrong one handed over would change the tags above).
    teaser = next(d for d in prepared.drafts if d.url.endswith("/teaser"))
    other = _tag_afresh(teaser, "Amazon and TikTok sign a new partnership.")
    assert any(e.field == "summary" for e in other.relevance_evidence)
    assert other != teaser.tags
