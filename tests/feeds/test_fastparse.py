"""The expat fast path gives exactly what feedparser gives, or steps aside.

Every document is parsed twice, ``parse_feed(fast=True)`` and ``parse_feed(fast=False)``
(feedparser only), and the two ``ParsedFeed`` values must be equal: every stored field of
every entry (title, link, guid, dates, summary, content, text, author, language, outlet),
the feed's title, site, language, TTL and bozo reason. The documents: newsmon's bench
corpus, the peer harness's corpus when it is on this machine, tests/data/feeds, the
hostile inputs, and hand-made variants that hit feedparser's quirks (guid-as-link, content
copied to summary, author e-mail splitting, mojibake repair, cp1252, xml:lang, xhtml).
"""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.feeds import fastparse
from app.feeds.parse import parse_feed
from bench.corpus import corpus

DATA = Path(__file__).parent.parent / "data" / "feeds"
PEER = Path("/tmp/newsbench/corpus/feeds")
NOW = datetime(2026, 3, 3, tzinfo=UTC)
URL = "http://127.0.0.1:8765/feeds/x.xml"


def both(body: bytes, headers: dict[str, str] | None = None) -> tuple[object, object]:
    headers = headers or {"content-type": "application/xml"}
    fast = parse_feed(body, url=URL, headers=headers, now=NOW, fast=True)
    slow = parse_feed(body, url=URL, headers=headers, now=NOW, fast=False)
    return fast, slow


def takes_fast_path(body: bytes, headers: dict[str, str] | None = None) -> bool:
    try:
        fastparse.fast_parse(body, headers or {"content-type": "application/xml"})
    except fastparse.NotFast:
        return False
    return True


def test_bench_corpus_is_identical_and_fast() -> None:
    documents = corpus(20, 30, seed=3)
    assert documents
    for name, body in documents.items():
        fast, slow = both(body)
        assert fast == slow, name
        assert takes_fast_path(body), name


@pytest.mark.skipif(not PEER.is_dir(), reason="peer corpus not generated (shared/bench)")
def test_peer_corpus_is_identical() -> None:
    fast_count = 0
    for path in sorted(PEER.glob("*.xml")):
        body = path.read_bytes()
        fast, slow = both(body)
        assert fast == slow, path.name
        fast_count += takes_fast_path(body)
    # the six malformed feeds (and only they) go to feedparser
    assert fast_count >= len(list(PEER.glob("*.xml"))) - 6


# redos-author.xml takes feedparser's quadratic author regex (~30 s per parse, run in a
# worker under a budget in production): the fast path refuses it at once instead.
@pytest.mark.parametrize(
    "path", sorted(p for p in DATA.iterdir() if p.name != "redos-author.xml"), ids=lambda p: p.name
)
def test_data_feeds_are_identical(path: Path) -> None:
    body = path.read_bytes()
    fast, slow = both(body)
    assert fast == slow


@pytest.mark.parametrize(
    "name", ["lol.xml", "xxe.xml", "nul-bytes.xml", "latin1-as-utf8.xml", "redos-author.xml"]
)
def test_hostile_documents_go_to_feedparser(name: str) -> None:
    assert not takes_fast_path((DATA / name).read_bytes())


HOSTILE = [
    # billion laughs, internal and parameter entities
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;'
    b'&a;&a;&a;&a;&a;&a;">]><rss version="2.0"><channel><item><title>&b;</title></item>'
    b"</channel></rss>",
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>'
    b'<rss version="2.0"><channel/></rss>',
    # external entity
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
    b'<rss version="2.0"><channel><item><title>&x;</title></item></channel></rss>',
    # huge attribute, bad encodings, undeclared prefix, truncated
    b'<rss version="2.0"><channel><item><guid isPermaLink="' + b"x" * 2_000_000 + b'">g</guid>'
    b"</item></channel></rss>",
    b'<?xml version="1.0" encoding="us-ascii"?><rss version="2.0"><channel><item><title>'
    b"caf\xc3\xa9</title></item></channel></rss>",
    b'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><item><title>'
    b"caf\xe9</title></item></channel></rss>",
    b'<rss version="2.0"><channel><item><x:title>t</x:title></item></channel></rss>',
    b'<rss version="2.0"><channel><item><title>t</title>',
    b"\xff\xfe<\x00r\x00s\x00s\x00/\x00>\x00",
]


@pytest.mark.parametrize("body", HOSTILE, ids=[str(i) for i in range(len(HOSTILE))])
def test_hostile_inputs_are_identical_and_safe(body: bytes) -> None:
    fast, slow = both(body)
    assert fast == slow
    assert "root:" not in repr(fast)  # no file was read
    assert len(repr(fast)) < 3_000_000


def test_dtd_never_reaches_the_fast_path() -> None:
    for body in HOSTILE[:3]:
        assert not takes_fast_path(body)


RSS_ITEM = """<item>{title}{link}{guid}<pubDate>Mon, 02 Mar 2026 09:26:00 +0100</pubDate>
{author}{description}{encoded}{source}<category>A</category>
<enclosure url="https://e.example/a.mp3" length="1" type="audio/mpeg"/></item>"""


def _rss(items: list[str], lang: str = "", extra: str = "") -> bytes:
    lang_attr = f' xml:lang="{lang}"' if lang else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"'
        ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xmlns:atom="http://www.w3.org/2005/Atom"'
        f' xmlns:sy="http://purl.org/rss/1.0/modules/syndication/"{lang_attr}><channel>'
        "<title>Chan &amp; nel</title><link>https://s.example/?a=1&amp;b=2</link>"
        '<atom:link href="https://s.example/feed" rel="self" type="application/rss+xml"/>'
        f"{extra}<image><url>https://s.example/i.png</url><title>Img</title>"
        "<link>https://s.example/img</link></image>" + "".join(items) + "</channel></rss>"
    ).encode()


TITLES = [
    "<title>Plain title</title>",
    "<title>AT&amp;T &lt;b&gt;bold&lt;/b&gt; news</title>",
    "<title><![CDATA[Caf\u00c3\u00a9 mojibake]]></title>",
    "<title>cp1252 \u0093quoted\u0094 \u0085</title>",
    "<title>  </title>",
    "",
]
LINKS = [
    "<link>https://a.example/x?a=1&amp;amp;b=2</link>",
    "<link>/relative/path</link>",
    "<link>  https://a.example/y  </link>",
    '<atom:link rel="alternate" type="text/html" href="https://a.example/atom"/>',
    "",
]
GUIDS = [
    '<guid isPermaLink="false">tag:a.example,2026:1</guid>',
    "<guid>https://a.example/permalink</guid>",
    "<guid>item-17</guid>",
    '<guid isPermaLink="true">https://a.example/x?a=1&amp;amp;b=2</guid>',
    "",
]
AUTHORS = [
    "<author>jane@example.com (Jane Doe)</author>",
    "<author>Jane Doe &lt;jane@example.com&gt;</author>",
    "<dc:creator>Paul Renaud</dc:creator>",
    "<author>nobody@example.org</author>",
    "",
]
DESCRIPTIONS = [
    "<description>&lt;p&gt;Escaped &lt;b&gt;html&lt;/b&gt;&lt;/p&gt;</description>",
    "<description><![CDATA[<p>CDATA <img src='/i.png'> text</p>]]></description>",
    "<description>Plain text\n\nparagraphs</description>",
    "",
]
ENCODED = [
    "<content:encoded><![CDATA[<p>Full <a href='/rel'>body</a> text.</p>]]></content:encoded>",
    "",
]
SOURCES = ['<source url="https://wire.example/rss">Wire Service</source>', "<source url='x'/>", ""]


def test_rss_variants_are_identical() -> None:
    rng = random.Random(7)
    seen_fast = 0
    for round_ in range(60):
        items = []
        for _ in range(6):
            items.append(
                RSS_ITEM.format(
                    title=rng.choice(TITLES),
                    link=rng.choice(LINKS),
                    guid=rng.choice(GUIDS),
                    author=rng.choice(AUTHORS),
                    description=rng.choice(DESCRIPTIONS),
                    encoded=rng.choice(ENCODED),
                    source=rng.choice(SOURCES),
                )
            )
        if round_ % 3 == 0:  # guid before link: the guid-as-link order matters
            swap = re.compile(r"(<link>.*?</link>)(<guid[^>]*>.*?</guid>)")
            items = [swap.sub(r"\2\1", i) for i in items]
        extra = rng.choice(["", "<language>de-DE</language>", "<ttl>45</ttl>"])
        extra += rng.choice(["", "<sy:updatePeriod>hourly</sy:updatePeriod>"])
        body = _rss(items, lang=rng.choice(["", "fr", "en_GB"]), extra=extra)
        headers = rng.choice(
            [
                {"content-type": "application/xml"},
                {"content-type": "application/rss+xml; charset=utf-8"},
                {"content-type": "application/xml", "content-language": "es"},
                {"content-type": "text/xml"},
            ]
        )
        fast, slow = both(body, headers)
        assert fast == slow, body.decode()
        seen_fast += takes_fast_path(body, headers)
    assert seen_fast > 30


ATOM_ENTRY = """<entry{lang}>{title}<id>{id}</id>{link}<updated>2026-03-01T10:00:00Z</updated>
{published}{author}{parts}<category term="x"/></entry>"""
ATOM_TITLES = [
    "<title>Atom title</title>",
    '<title type="html">A &amp;lt;em&amp;gt;html&amp;lt;/em&amp;gt; title</title>',
    '<title type="text">1 &lt; 2</title>',
]
ATOM_PARTS = [
    '<summary>Plain summary</summary><content type="html">&lt;p&gt;Body&lt;/p&gt;</content>',
    '<content type="html">&lt;p&gt;Body first&lt;/p&gt;</content><summary>After</summary>',
    '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>X <b>y</b> &amp; z'
    '<img src="/a.png"/></p></div></content>',
    '<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>one</p></div>'
    "<div xmlns='http://www.w3.org/1999/xhtml'><p>two</p></div></content>",
    '<summary type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml" xml:lang="de">'
    '<a href="https://x.example/" rel="NoFollow">Link</a></div></summary>',
    '<content type="text">Text &lt;not html&gt;\n\nsecond</content>',
    '<content type="html" xml:lang="it">&lt;p&gt;Italiano&lt;/p&gt;</content>',
    "",
]
ATOM_AUTHORS = [
    "<author><name>Ann Lee</name><email>ann@x.example</email></author>",
    "<author><name> Bob </name><uri>https://bob.example/</uri></author>",
    "<author><email>only@x.example</email></author>",
    "<author></author>",
    "",
]
ATOM_LINKS = [
    '<link href="https://a.example/1"/>',
    '<link rel="alternate" type="text/html" href="https://a.example/2"/>'
    '<link rel="enclosure" href="https://a.example/2.mp3"/>',
    '<link rel="self" href="https://a.example/self"/>',
    '<link rel="alternate" href="https://a.example/a"/><link rel="alternate" href="https://a.example/b"/>',
    "",
]


def test_atom_variants_are_identical() -> None:
    rng = random.Random(11)
    seen_fast = 0
    for _ in range(60):
        entries = [
            ATOM_ENTRY.format(
                lang=rng.choice(["", ' xml:lang="pt-BR"']),
                title=rng.choice(ATOM_TITLES),
                id=rng.choice(["urn:uuid:1", "https://a.example/1", "tag:a,2026:1"]),
                link=rng.choice(ATOM_LINKS),
                published=rng.choice(["", "<published>2026-02-28T08:00:00+01:00</published>"]),
                author=rng.choice(ATOM_AUTHORS),
                parts=rng.choice(ATOM_PARTS),
            )
            for _ in range(6)
        ]
        lang = rng.choice(["", ' xml:lang="en"', ' xml:lang=""'])
        body = (
            f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"{lang}>'
            '<title type="html">Feed &amp;amp; co</title><link href="https://f.example/"/>'
            '<link rel="self" href="https://f.example/atom"/><id>urn:f</id>'
            "<updated>2026-03-01T10:00:00Z</updated>" + "".join(entries) + "</feed>"
        ).encode()
        fast, slow = both(body)
        assert fast == slow, body.decode()
        seen_fast += takes_fast_path(body)
    assert seen_fast > 30


def test_rdf_and_latin1_are_identical() -> None:
    rdf = (
        '<?xml version="1.0" encoding="iso-8859-1"?>'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
        ' xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<channel rdf:about="https://r.example/"><title>R\u00e9sum\u00e9</title>'
        "<link>https://r.example/</link><items><rdf:Seq><rdf:li "
        'rdf:resource="https://r.example/1"/></rdf:Seq></items></channel>'
        '<item rdf:about="https://r.example/1"><title>Gr\u00fc\u00dfe</title>'
        "<link>https://r.example/1</link><description>Fran\u00e7ais</description>"
        "<dc:date>2026-03-01T10:00:00+01:00</dc:date><dc:creator>Z\u00f6e</dc:creator></item>"
        "</rdf:RDF>"
    ).encode("iso-8859-1")
    fast, slow = both(rdf)
    assert fast == slow
    assert takes_fast_path(rdf)
    assert fast.entries[0].title == "Gr\u00fc\u00dfe"  # type: ignore[attr-defined]


def test_unusual_documents_go_to_feedparser() -> None:
    unusual = [
        _rss(["<item><title>a</title><title>b</title></item>"]),
        _rss(['<item xml:base="https://b.example/"><link>x</link></item>']),
        _rss(
            [
                '<item><media:title xmlns:media="http://search.yahoo.com/mrss/">m</media:title>'
                "</item>"
            ]
        ),
        _rss(["<item><title>a <b>b</b></title></item>"]),
        b'<feed xmlns="http://purl.org/atom/ns#"><title>Atom 0.3</title></feed>',
        b"<html><body><p>not a feed</p></body></html>",
    ]
    for body in unusual:
        assert not takes_fast_path(body), body
        fast, slow = both(body)
        assert fast == slow


def test_a_fast_path_failure_falls_back_to_feedparser(monkeypatch: pytest.MonkeyPatch) -> None:
    body = _rss(
        [RSS_ITEM.format(**dict.fromkeys(_FIELDS, "")).replace("<item>", "<item><title>T</title>")]
    )
    expected = parse_feed(body, url=URL, now=NOW, fast=False)

    def broken(*_: object) -> None:
        raise RuntimeError("a bug in the fast path")

    monkeypatch.setattr("app.feeds.fastparse.fast_parse", broken)
    got = parse_feed(body, url=URL, now=NOW)
    assert got == expected
    assert got.error is None and got.entries[0].title == "T"


_FIELDS = ("title", "link", "guid", "author", "description", "encoded", "source")


def test_only_c1_characters_are_mapped_to_cp1252() -> None:
    """``_finish`` maps with ``_cp1252`` only when a C1 character is present: that is
    sound while feedparser's table maps nothing else."""
    from app.feeds.fastparse import _C1, _cp1252, _finish

    assert _cp1252 and all(_C1.fullmatch(chr(c)) for c in _cp1252)
    assert _finish("caf\u00e9 \u0093q\u0094") == "caf\u00e9 \u201cq\u201d"
    assert _finish("plain") == "plain"


@pytest.mark.parametrize(
    "uri",
    [
        "http://outlet.example/a",
        "http:///outlet.example/a",  # the slashes feedparser drops
        "https:////outlet.example/a?b=c:///d",
        "HTTP:///x",
        "/relative/path",
        "tag:outlet.example,2026:1",
        "urn:uuid:1234",
        "x+y.z-w:///p",
        ":///",
        "a:///",
        "1http:///x",  # not a scheme: left alone by both
        "mailto:someone@outlet.example",
        "http://a.example/b:///c",
        "",
        "   ",
        "javascript:///alert(1)",
        "http\u00e9:///x",
    ],
)
def test_fixed_uri_is_feedparsers_urljoin_without_a_base(uri: str) -> None:
    from feedparser.urls import _urljoin

    from app.feeds.fastparse import _fixed_uri

    assert _fixed_uri(uri) == _urljoin("", uri)


@pytest.mark.parametrize(
    "text",
    ["plain", "", "caf\u00c3\u00a9", "caf\u00e9", "\u0093q\u0094", "\u00e2\u0080\u009c", "日"],
)
def test_finish_skips_nothing_it_would_change(text: str) -> None:
    """ASCII text is returned as it is; the reference is ``_finish`` without the shortcut."""
    import contextlib

    from app.feeds.fastparse import _cp1252, _finish

    expected = text
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        expected = expected.encode("iso-8859-1").decode("utf-8")
    assert _finish(text) == expected.translate(_cp1252)


_DAY_NAMES = ["", "Mon, ", "Tue, ", "Wed, ", "Thu, ", "Fri, ", "Sat, ", "Sun, ", "mon, "]
_MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]


def _two(n: int) -> str:
    return f"{n:02d}"


@settings(derandomize=True, max_examples=3000, deadline=None)
@given(
    st.sampled_from(_DAY_NAMES),
    st.integers(0, 39),
    st.sampled_from([*_MONTH_NAMES, "jan", "Foo"]),
    st.sampled_from([0, 1, 1899, 1970, 1990, 2000, 2024, 2026, 9999]),
    st.integers(0, 29),
    st.integers(0, 69),
    st.integers(0, 69),
    st.sampled_from(["GMT", "UT", "Z", "gmt", "EST", "+0000", "-0500", "+0530", "+1400", "-2359"]),
)
def test_strict_rfc822_dates_read_as_feedparser_reads_them(
    day_name: str, day: int, month: str, year: int, hour: int, minute: int, second: int, zone: str
) -> None:
    from feedparser.datetimes import _parse_date

    from app.feeds.fastparse import _parsed_date

    clock = f"{_two(hour)}:{_two(minute)}:{_two(second)}"
    value = f"{day_name}{_two(day)} {month} {year:04d} {clock} {zone}"
    assert _parsed_date(value) == _parse_date(value), value


@settings(derandomize=True, max_examples=3000, deadline=None)
@given(
    st.sampled_from([0, 1, 1970, 2026, 9999]),
    st.integers(0, 14),
    st.integers(0, 33),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.sampled_from(["Z", "z", "+00:00", "-05:00", "+05:30", "+14:00", "-23:59", "+0100", ""]),
    st.sampled_from(["T", "t", " "]),
)
def test_strict_w3dtf_dates_read_as_feedparser_reads_them(
    year: int, month: int, day: int, hour: int, minute: int, second: int, zone: str, sep: str
) -> None:
    from feedparser.datetimes import _parse_date

    from app.feeds.fastparse import _parsed_date

    value = (
        f"{year:04d}-{_two(month)}-{_two(day)}{sep}{_two(hour)}:{_two(minute)}:{_two(second)}{zone}"
    )
    assert _parsed_date(value) == _parse_date(value), value


@pytest.mark.parametrize(
    "value",
    [
        "",
        "2026-03-01",
        "2026-03-01T12:42:00.123Z",
        "Sun, 1 Mar 2026 23:51:00 GMT",
        "Sun, 01 Mar 26 23:51:00 GMT",
        "01 Mar 2026 23:51 +0100",
        "Sun, 01 Mar 2026 23:51:00 GMT ",
        "Sun, 01 Mar 2026 23:51:00 +01:00",
        "٠١ Mar 2026 23:51:00 GMT",
        "Mar 01 2026 23:51:00 GMT",
        "not a date",
    ],
)
def test_other_date_shapes_go_to_feedparser(value: str) -> None:
    from feedparser.datetimes import _parse_date

    from app.feeds.fastparse import _parsed_date

    assert _parsed_date(value) == _parse_date(value)
