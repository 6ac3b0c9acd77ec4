from pathlib import Path

import pytest

from app.core.errors import InvalidInput
from app.feeds.opml import OpmlFeed, export_opml, parse_opml, read_opml

DATA = Path(__file__).parent.parent / "data" / "opml"


@pytest.mark.parametrize(("name", "message"), [("bomb.opml", "entity"), ("xxe.opml", "entity")])
def test_hostile_opml_is_refused(name: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_opml((DATA / name).read_bytes())


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<opml><body><outline", "well-formed"),
        (b"<rss/>", "not an OPML"),
        (b"", "well-formed"),
    ],
)
def test_broken_opml_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_opml(data)


def test_nested_outlines_flattened_and_bad_urls_reported() -> None:
    result = read_opml((DATA / "nested.opml").read_bytes())
    assert result.feeds == (
        OpmlFeed(
            "https://www.example.com/news/feed.rss", "Example Wire", "https://www.example.com/news/"
        ),
        OpmlFeed("https://netz.example.de/atom.xml", "Netz", None),
        OpmlFeed("http://blog.example.org/rss", "Bad <b>title</b>", None),
    )
    assert result.rejected == ("file:///etc/passwd", "javascript:alert(1)")


def test_outline_cap() -> None:
    outlines = "".join(f'<outline xmlUrl="https://e.com/{i}"/>' for i in range(11))
    data = f"<opml><body>{outlines}</body></opml>".encode()
    assert len(parse_opml(data, max_outlines=11)) == 11
    with pytest.raises(InvalidInput, match="more than 10 outlines"):
        parse_opml(data, max_outlines=10)


def test_export_round_trips() -> None:
    feeds = [
        OpmlFeed("https://e.com/feed?a=1&b=2", 'Tricky "<title>" \x00', "https://e.com/"),
        OpmlFeed("https://f.example/rss"),
    ]
    data = export_opml(feeds)
    assert data.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    assert parse_opml(data) == [
        OpmlFeed("https://e.com/feed?a=1&b=2", 'Tricky "<title>"', "https://e.com/"),
        OpmlFeed("https://f.example/rss", "https://f.example/rss", None),
    ]
