import asyncio
import os
import runpy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.identity import dedupe_batch
from app.feeds.parse import ParsePool, parse_feed

DATA = Path(__file__).parent.parent / "data" / "feeds"
NOW = datetime(2024, 6, 1, tzinfo=UTC)
URL = "https://example.com/feed.xml"


def parse(name: str, **kwargs: object) -> object:
    return parse_feed((DATA / name).read_bytes(), url=URL, now=NOW, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["full.rss", "atom.xml"])
def test_golden(name: str) -> None:
    expected = runpy.run_path(str(DATA / f"{name}.py"))
    body = (DATA / name).read_bytes()
    assert parse_feed(body, url=expected["URL"], now=expected["NOW"]) == expected["feed"]


def test_xss_feed_is_neutralised() -> None:
    feed = parse_feed((DATA / "xss.xml").read_bytes(), url=URL, now=NOW)
    entry = feed.entries[0]
    assert feed.title == '">XSS feed'
    assert feed.site_url is None  # javascript: site link
    assert entry.url is None  # javascript: entry link
    assert entry.title == '">Title'
    assert entry.author == '">Mallory'
    html = entry.summary_html.lower()
    for needle in ("script", "onclick", "onerror", "style", "javascript", "vbscript", "file:"):
        assert needle not in html
    for needle in ("data:", "<form", "<input", "<iframe", "<object", "<embed", "srcset", "target"):
        assert needle not in html
    assert '<a href="https://example.com/relative" rel="noopener noreferrer nofollow">' in html


def test_svg_and_math_dropped() -> None:
    entry = parse_feed((DATA / "svg-xss.xml").read_bytes(), url=URL, now=NOW).entries[0]
    assert "<svg" not in entry.content_html
    assert "javascript" not in entry.content_html
    assert "<math" not in entry.content_html
    assert "<p>before</p>" in entry.content_html
    assert "<p>after</p>" in entry.content_html


@pytest.mark.parametrize("name", ["lol.xml", "xxe.xml"])
def test_entity_attacks_are_bounded_and_read_nothing(name: str) -> None:
    canary = DATA / "canary.txt"
    body = (DATA / name).read_bytes().replace(b"CANARY_PATH", str(canary.resolve()).encode())
    feed = parse_feed(body, url=URL, now=NOW)
    assert feed.bozo_reason is not None
    expanded = sum(len(e.text) + len(e.title) + len(e.content_html) for e in feed.entries)
    assert expanded < 10_000  # nothing was expanded (a billion laughs would be gigabytes)
    assert "undefined entity" in feed.bozo_reason
    for entry in feed.entries:
        assert "CANARY" not in entry.text
        assert "lollol" not in entry.text


def test_body_equal_to_a_local_path_is_not_opened() -> None:
    canary = (DATA / "canary.txt").resolve()
    feed = parse_feed(str(canary).encode(), url=URL, now=NOW)
    assert feed.error is not None
    assert feed.error.startswith("not a feed")
    assert "CANARY" not in repr(feed)


def test_url_body_is_not_fetched() -> None:
    feed = parse_feed(b"http://127.0.0.1:9/feed.xml", url=URL, now=NOW)
    assert feed.error is not None
    assert feed.error.startswith("not a feed")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ((DATA / "html-not-feed.html").read_bytes(), "not a feed:"),
        (b"", "not a feed: empty body"),
        (b"  \n", "not a feed: empty body"),
        (b'{"version": "https://jsonfeed.org/version/1"}', "not a feed:"),
    ],
)
def test_not_a_feed(body: bytes, error: str) -> None:
    feed = parse_feed(body, url=URL, headers={"Content-Type": "text/html"}, now=NOW)
    assert feed.error is not None
    assert feed.error.startswith(error)
    assert feed.entries == ()


def test_latin1_labelled_utf8_recovers_text() -> None:
    feed = parse_feed((DATA / "latin1-as-utf8.xml").read_bytes(), url=URL, now=NOW)
    assert feed.entries[0].title == "Müller Café"
    assert feed.entries[0].summary_html == "Grüße aus Köln"
    assert feed.bozo_reason is not None


def test_nul_bytes_and_controls_stripped() -> None:
    feed = parse_feed((DATA / "nul-bytes.xml").read_bytes(), url=URL, now=NOW)
    entry = feed.entries[0]
    assert entry.title == "nulherevt \u202eRTL\u200b"  # RTL/zero-width kept, escaped later
    assert entry.author == "Null"
    assert entry.summary_html == "<p>ab</p>"
    assert "\x00" not in entry.text


def test_huge_fields_capped() -> None:
    entry = parse_feed((DATA / "huge-fields.xml").read_bytes(), url=URL, now=NOW).entries[0]
    assert len(entry.title) == 1_000
    assert entry.title.endswith("…")
    assert entry.url is None  # 5 KB URL: dropped, not cut
    assert len(entry.author or "") == 200
    assert len(entry.summary_html) <= 20_000
    assert len(entry.content_html) <= 500_000
    assert len(entry.text) <= 500_000


def test_dates() -> None:
    entries = parse_feed((DATA / "future-dates.xml").read_bytes(), url=URL, now=NOW).entries
    got = [(e.published_at, e.date_clamped, e.published_raw) for e in entries]
    assert got == [
        (NOW, True, "Tue, 01 Jan 2099 00:00:00 GMT"),
        (None, False, "not a date"),
        (datetime(2024, 3, 1, 12, tzinfo=UTC), False, None),  # no zone: UTC
        (None, False, "Mon, 01 Jan 0001 00:00:00 GMT"),
        (None, False, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (NOW, True, "Fri, 31 Dec 9999 23:59:59 +0000"),
        (datetime(2024, 5, 1, 8, tzinfo=UTC), False, None),
        (None, False, None),
    ]


@pytest.mark.parametrize(
    ("name", "urls", "kept"),
    [
        # duplicate GUIDs with different links stay distinct; the same link collapses
        ("dup-guid.xml", 4, ["first", "second", "longer"]),
        ("same-guid-all.xml", 3, ["item 0", "item 1", "item 2"]),
        ("no-guid.xml", 1, ["no guid no link", "no guid no link 2", "link only", "bare…"]),
    ],
)
def test_identity_fixtures(name: str, urls: int, kept: list[str]) -> None:
    first = parse_feed((DATA / name).read_bytes(), url=URL, now=NOW)
    second = parse_feed((DATA / name).read_bytes(), url=URL, now=NOW)
    assert sum(1 for e in first.entries if e.url) == urls
    batch = dedupe_batch(first.entries, URL)
    assert [k.entry.title for k in batch] == [
        t.replace("bare…", "bare permalink guid") for t in kept
    ]
    assert [k.key for k in batch] == [k.key for k in dedupe_batch(second.entries, URL)]


def test_bare_guid_is_not_turned_into_a_link() -> None:
    entries = parse_feed((DATA / "no-guid.xml").read_bytes(), url=URL, now=NOW).entries
    assert (entries[3].guid, entries[3].url) == ("item-7", None)


def test_a_link_to_an_unclosed_ipv6_host_costs_that_link_not_the_feed() -> None:
    """``//[x`` made ``urljoin`` raise, and the whole feed failed as unparseable."""
    body = (
        b'<rss version="2.0"><channel><title>t</title><link>https://example.com/</link>'
        b"<item><title>Kept</title><link>https://example.com/kept</link></item>"
        b"<item><title>Odd link</title><link>//[bad</link><guid>g-odd</guid>"
        b"<description>see &lt;a href='//[x'&gt;this&lt;/a&gt;</description></item>"
        b"</channel></rss>"
    )
    parsed = parse_feed(body, url=URL, now=NOW)
    assert parsed.error is None
    assert [(e.title, e.url) for e in parsed.entries] == [
        ("Kept", "https://example.com/kept"),
        ("Odd link", None),
    ]
    assert "//[x" not in parsed.entries[1].summary_html


def test_a_lead_broken_into_other_paragraphs_than_the_content_is_stored_once() -> None:
    """A description whose two ``<p>`` are one paragraph of the content (or an excerpt
    on one line against a content in paragraphs) is the content's lead: the article's
    text holds it once, not the description and then the content again."""
    body = (
        b'<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        b"<channel><title>t</title><link>https://example.com/</link>"
        b"<item><title>Shop link</title><link>https://example.com/a</link>"
        b"<description>&lt;p&gt;Amazon adds a checkout.&lt;/p&gt;&lt;p&gt;Sellers react."
        b"&lt;/p&gt;</description><content:encoded><![CDATA[<p><strong>Amazon</strong> adds "
        b"a checkout. Sellers react.</p><p>More detail follows.</p>]]></content:encoded></item>"
        b"<item><title>Teaser</title><link>https://example.com/b</link>"
        b"<description>A teaser that the body does not open with.</description>"
        b"<content:encoded><![CDATA[<p>The body.</p>]]></content:encoded></item>"
        b"</channel></rss>"
    )
    first, second = parse_feed(body, url=URL, now=NOW).entries
    assert first.text.count("Sellers react") == 1
    assert (
        first.text == "Shop link\n\nAmazon adds a checkout. Sellers react.\n\nMore detail follows."
    )
    # A description that is not the lead is kept before the content.
    assert second.text == "Teaser\n\nA teaser that the body does not open with.\n\nThe body."


@pytest.mark.parametrize(
    ("channel", "ttl"),
    [
        ("<ttl>60</ttl>", 3600),
        ("<ttl>junk</ttl>", None),
        (
            "<sy:updatePeriod>daily</sy:updatePeriod><sy:updateFrequency>4</sy:updateFrequency>",
            21600,
        ),
        ("<sy:updatePeriod>hourly</sy:updatePeriod>", 3600),
        ("<sy:updatePeriod>never</sy:updatePeriod>", None),
        ("", None),
    ],
)
def test_ttl(channel: str, ttl: int | None) -> None:
    body = (
        '<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">'
        f"<channel><title>t</title>{channel}<item><title>a</title></item></channel></rss>"
    ).encode()
    assert parse_feed(body, url=URL, now=NOW).ttl_seconds == ttl


def _items(count: int) -> bytes:
    items = "".join(
        f"<item><title>Item {i}</title><link>https://example.com/{i}</link>"
        f"<guid>g{i}</guid><pubDate>Wed, 01 May 2024 {i % 24:02d}:00:00 GMT</pubDate>"
        f"<description>&lt;p&gt;Paragraph {i} with a &lt;a href='/x{i}'&gt;link&lt;/a&gt;"
        f" and some words to make it an ordinary summary.&lt;/p&gt;</description></item>"
        for i in range(count)
    )
    return f'<rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()


def test_many_items_capped_to_newest() -> None:
    feed = parse_feed(_items(3_000), url=URL, now=NOW, max_entries=100)
    assert len(feed.entries) == 100
    assert feed.entries_dropped == 2_900
    assert all(e.published_at and e.published_at.hour == 23 for e in feed.entries[:5])


@settings(derandomize=True, max_examples=200, deadline=None)
@given(
    st.binary(max_size=300)
    | st.builds(lambda s: _items(1).replace(b"Item 0", s), st.binary(max_size=40))
)
def test_parse_feed_never_raises(body: bytes) -> None:
    feed = parse_feed(body, url=URL, now=NOW)
    assert feed.error is not None or feed.entries is not None


def test_pool_kills_a_worker_over_budget_and_keeps_serving() -> None:
    redos = (DATA / "redos-author.xml").read_bytes()
    good = _items(2)

    async def run() -> tuple[str | None, int, int]:
        async with ParsePool(2) as pool:
            slow, fast = await asyncio.gather(
                pool.parse(redos, url=URL, now=NOW, budget_seconds=1.0),
                pool.parse(good, url=URL, now=NOW),
            )
            again = await pool.parse(good, url=URL, now=NOW, budget_seconds=5.0)
            return slow.error, len(fast.entries), len(again.entries)

    error, fast, again = asyncio.run(run())
    assert error is not None  # the worker was stopped at its budget, not left to finish
    assert error.startswith("parse time budget exceeded")
    assert (fast, again) == (2, 2)


def _live_slots(pool: ParsePool) -> int:
    queued: list[Any] = list(pool._idle._queue)  # type: ignore[attr-defined]
    return sum(1 for worker in queued if not worker.dead)


def test_jobs_queued_behind_a_killed_or_crashed_job_on_one_worker_still_run() -> None:
    """A worker holds two jobs at once (the next waits in its queue). When the running
    one runs over budget, its process dies or the job fails, the worker is replaced and
    that job fails alone: the job queued behind it runs on the replacement, and its
    budget counts from when it starts, not from when it was queued."""
    from app.feeds.parse import DEPTH

    redos = (DATA / "redos-author.xml").read_bytes()
    good = _items(3)

    async def run() -> tuple[Any, ...]:
        async with ParsePool(1) as pool:
            slow_first = await asyncio.gather(
                pool.parse(redos, url=URL, now=NOW, budget_seconds=1.0),
                pool.parse(good, url=URL, now=NOW, budget_seconds=0.9),
                pool.parse(good, url=URL, now=NOW, budget_seconds=0.9),
            )
            crash_first = await asyncio.gather(
                pool.run(os._exit, 3, budget_seconds=5.0, on_failure=str),
                pool.parse(good, url=URL, now=NOW),
            )
            raise_first = await asyncio.gather(
                pool.run(int, "x", budget_seconds=5.0, on_failure=str),  # ValueError in it
                pool.parse(good, url=URL, now=NOW),
            )
            alive = len(pool._workers)
            after = len((await pool.parse(good, url=URL, now=NOW)).entries)
            return slow_first, crash_first, raise_first, alive, after, _live_slots(pool)

    slow_first, crash_first, raise_first, alive, after, slots = asyncio.run(run())
    slow, *queued = slow_first
    assert slow.error is not None and slow.error.startswith("parse time budget exceeded")
    assert [len(q.entries) for q in queued] == [3, 3]
    crashed, behind = crash_first
    assert crashed == "parse worker failed: BrokenProcessPool"
    assert len(behind.entries) == 3
    raised, behind = raise_first
    assert raised == "parse worker failed: ValueError"
    assert len(behind.entries) == 3
    assert (alive, after, slots) == (1, 3, DEPTH)  # one worker, no slot lost or doubled


def test_a_worker_whose_replacement_fails_to_start_is_started_again_by_the_next_job() -> None:
    """Replacing a killed worker can fail (no process could be forked): that job reports
    the error, and the next job starts a worker instead of waiting for ever."""
    redos = (DATA / "redos-author.xml").read_bytes()

    async def run() -> tuple[int, int]:
        async with ParsePool(1) as pool:
            await pool.parse(_items(1), url=URL, now=NOW)
            start = pool._start
            failures = [OSError("fork failed")]

            async def start_once_failing() -> object:
                if failures:
                    raise failures.pop()
                return await start()

            pool._start = start_once_failing  # type: ignore[method-assign,assignment]
            with pytest.raises(OSError, match="fork failed"):
                await pool.parse(redos, url=URL, now=NOW, budget_seconds=1.0)
            parsed = await asyncio.wait_for(pool.parse(_items(2), url=URL, now=NOW), 60)
            return len(parsed.entries), len(pool._workers)

    assert asyncio.run(run()) == (2, 1)


def test_pool_without_processes_parses_inline() -> None:
    async def run() -> int:
        async with ParsePool(0) as pool:
            return len((await pool.parse(_items(3), url=URL, now=NOW)).entries)

    assert asyncio.run(run()) == 3


def test_a_long_feed_with_entity_declarations_is_not_cut_early_but_still_capped() -> None:
    """The early cut (issue 15 §5) refuses DTD entities; the document then goes to
    feedparser whole and the usual cap applies."""
    from datetime import UTC, datetime

    from app.feeds.parse import MAX_ENTRIES, parse_feed

    items = "".join(
        f"<item><title>&x; {n}</title><link>https://o.example/{n}</link></item>"
        for n in range(MAX_ENTRIES + 5)
    )
    body = (
        '<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x "Item">]>'
        f'<rss version="2.0"><channel><title>t</title>{items}</channel></rss>'
    ).encode()
    parsed = parse_feed(body, url="https://o.example/feed", now=datetime.now(UTC))
    assert len(parsed.entries) == MAX_ENTRIES and parsed.entries_dropped == 5
    assert parsed.entries[0].url == "https://o.example/0"


def test_a_pool_started_early_has_its_workers_before_the_first_job() -> None:
    """``start_soon`` (the poller calls it when a claimed feed was never fetched) starts
    the workers in the background; the first job then finds them running, and closing
    the pool while they are still starting leaves no process behind."""

    async def run() -> tuple[int, int, int]:
        async with ParsePool(1) as pool:
            pool.start_soon()
            pool.start_soon()  # once is enough: no second start
            for _ in range(600):  # a bound (60 s), not a timing assertion
                if pool._workers:
                    break
                await asyncio.sleep(0.1)
            started = len(pool._workers)
            parsed = len((await pool.parse(_items(2), url=URL, now=NOW)).entries)
            return started, parsed, len(pool._workers)

    assert asyncio.run(run()) == (1, 2, 1)

    async def closed_while_starting() -> set[object]:
        pool = ParsePool(1)
        pool.start_soon()
        await pool.aclose()
        return pool._workers

    assert asyncio.run(closed_while_starting()) == set()


def _niceness() -> int:
    return os.getpriority(os.PRIO_PROCESS, 0)


def test_a_pool_runs_its_workers_below_the_priority_of_the_process_that_owns_it() -> None:
    """Parsing and tagging are batch work (NEWSMON_POLL_NICE); the poller's own process,
    which holds the database's write lock while it stores, keeps its priority, so a
    starved lock holder never makes an editor's write wait."""

    async def run() -> tuple[int, int]:
        async with ParsePool(1, nice=3) as pool:
            worker = await pool.run(_niceness, budget_seconds=30, on_failure=lambda _: -99)
        async with ParsePool(1) as pool:
            plain = await pool.run(_niceness, budget_seconds=30, on_failure=lambda _: -99)
        return worker, plain

    mine = _niceness()
    assert asyncio.run(run()) == (min(mine + 3, 19), mine)
    assert _niceness() == mine  # the owner's own priority is untouched
