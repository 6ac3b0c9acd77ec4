# Golden result of parse_feed(atom.xml, url=URL, now=NOW); see tests/feeds/test_parse.py.
from datetime import UTC, datetime

from app.core.types import ParsedEntry, ParsedFeed

URL = "https://netz.example.de/atom.xml"
NOW = datetime(2024, 9, 1, tzinfo=UTC)

feed = ParsedFeed(
    title="Netz Kompakt",
    site_url="https://netz.example.de/",
    language="de",
    entries=(
        ParsedEntry(
            guid="urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a",
            url="https://netz.example.de/politik/ausschuss",
            title="Ausschuss kritisiert Partnerschaft",
            summary_html="Kurzfassung",
            # relative href resolved against the content's xml:base
            content_html=(
                '<p>Volltext mit <a href="https://netz.example.de/politik/quelle"'
                ' rel="noopener noreferrer nofollow">Quelle</a>.</p>'
            ),
            text="Ausschuss kritisiert Partnerschaft\n\nKurzfassung\n\nVolltext mit Quelle.",
            author="Erika Mustermann",  # the e-mail address is dropped
            published_at=datetime(2024, 8, 16, 5, 30, tzinfo=UTC),
            updated_at=datetime(2024, 8, 16, 6, 0, tzinfo=UTC),
            language="de",
        ),
    ),
)
