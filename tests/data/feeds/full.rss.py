# Golden result of parse_feed(full.rss, url=URL, now=NOW); see tests/feeds/test_parse.py.
# The utm parameter stays in the stored URL: canonical_url strips it for the key only.
from datetime import UTC, datetime

from app.core.types import ParsedEntry, ParsedFeed

URL = "https://www.example.com/news/feed.rss"
NOW = datetime(2024, 9, 1, tzinfo=UTC)

feed = ParsedFeed(
    title="Example Wire & Co",
    site_url="https://www.example.com/news/",
    language="en-gb",
    ttl_seconds=1800,
    entries=(
        ParsedEntry(
            guid="7bd204c6-1655-4c27-aeee-53f933c5395f",
            url="https://www.example.com/news/2024/05/inquiry?utm_source=rss&id=7",
            # markup in a title is reduced to its text
            title="Regulator opens inquiry into app data flows",
            summary_html="The regulator said on Wednesday it had opened an inquiry.",
            content_html=(
                "<p>The regulator said on Wednesday it had opened an inquiry.</p>"
                '<p>Read the <a href="https://www.example.com/docs/decision.pdf"'
                ' rel="noopener noreferrer nofollow">decision</a>.</p>'
            ),
            # the summary is the lead of the content, so it is not repeated
            text=(
                "Regulator opens inquiry into app data flows\n\n"
                "The regulator said on Wednesday it had opened an inquiry.\n\nRead the decision."
            ),
            author="Jane Doe",
            published_at=datetime(2024, 5, 1, 7, 30, tzinfo=UTC),
            language="en-gb",
        ),
        ParsedEntry(
            guid=None,
            url="https://www.example.com/news/2024/05/second",
            title="Second entry",
            summary_html="Only a description, with a <b>bold</b> word.",
            text="Second entry\n\nOnly a description, with a bold word.",
            language="en-gb",
        ),
    ),
)
