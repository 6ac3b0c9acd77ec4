"""Fetching article pages from a real loopback news site: robots.txt, status codes,
Retry-After, caps, non-HTML, refused redirects, slow hosts and the per-host delay."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import replace

import pytest

from app.core.types import FetchKind
from app.feeds.extract import PageFetcher
from app.feeds.hosts import HostGate
from app.feeds.http import FetchPolicy, make_guarded_client
from app.feeds.robots import RobotsCache
from tests.support.feedsrv import FeedServer
from tests.support.fixtures import TEST_POLICY
from tests.support.newssite import NewsSite

pytestmark = pytest.mark.anyio
CAP = 5 * 1024 * 1024


@pytest.fixture
def site() -> Iterator[NewsSite]:
    with NewsSite() as server:
        yield server


@pytest.fixture
def policy(site: NewsSite) -> FetchPolicy:
    # Only the site is allowlisted: every other loopback address stays refused.
    return replace(TEST_POLICY, allowlist=(site.hostport,), max_bytes=CAP, read_timeout=1.0)


@pytest.fixture
async def fetcher(policy: FetchPolicy) -> AsyncIterator[PageFetcher]:
    gate = HostGate(per_host=1, min_delay=0.0)
    async with make_guarded_client(policy) as client:
        yield PageFetcher(client, gate, RobotsCache(client, gate))


async def test_a_page_is_fetched_after_robots_txt(fetcher: PageFetcher, site: NewsSite) -> None:
    got = await fetcher.fetch(site.url("/en/story"))
    assert got.outcome is not None and got.outcome.ok
    assert site.paths() == ["/robots.txt", "/en/story"]
    await fetcher.fetch(site.url("/de/story"))
    assert site.paths().count("/robots.txt") == 1  # cached per origin


async def test_robots_disallowed_paths_are_never_requested(
    fetcher: PageFetcher, site: NewsSite
) -> None:
    got = await fetcher.fetch(site.url("/private/story"))
    assert got.outcome is None and "robots.txt" in (got.robots_refusal or "")
    assert not got.robots_temporary
    assert "/private/story" not in site.paths()


async def test_the_user_agent_names_newsmon_and_accepts_html_only(
    fetcher: PageFetcher, site: NewsSite
) -> None:
    got = await fetcher.fetch(site.url("/data.json"))
    assert got.outcome is not None and got.outcome.kind is FetchKind.WRONG_TYPE
    assert got.outcome.body is None


@pytest.mark.parametrize(
    ("path", "kind", "status"),
    [
        ("/status/404", FetchKind.HTTP_ERROR, 404),
        ("/status/410", FetchKind.GONE, 410),
        ("/status/429?retry_after=120", FetchKind.RATE_LIMITED, 429),
    ],
)
async def test_status_codes(
    fetcher: PageFetcher, site: NewsSite, path: str, kind: FetchKind, status: int
) -> None:
    got = await fetcher.fetch(site.url(path))
    assert got.outcome is not None
    assert (got.outcome.kind, got.outcome.status) == (kind, status)


async def test_retry_after_keeps_the_host_alone(fetcher: PageFetcher, site: NewsSite) -> None:
    got = await fetcher.fetch(site.url("/status/429?retry_after=120"))
    assert got.outcome is not None and got.outcome.retry_after_seconds == 120
    assert fetcher.gate.blocked_for(site.address) > 100


async def test_a_20_mb_page_is_refused_unread(fetcher: PageFetcher, site: NewsSite) -> None:
    got = await fetcher.fetch(site.url("/huge?mib=20"))
    assert got.outcome is not None and got.outcome.kind is FetchKind.TOO_LARGE


async def test_an_endless_body_stops_at_the_cap(fetcher: PageFetcher, site: NewsSite) -> None:
    got = await fetcher.fetch(site.url("/endless"))
    assert got.outcome is not None and got.outcome.kind is FetchKind.TOO_LARGE
    assert f"{CAP}" in (got.outcome.error or "")


async def test_a_redirect_chain_to_a_private_address_is_refused(
    fetcher: PageFetcher, site: NewsSite
) -> None:
    with FeedServer() as sentinel:  # loopback, but not allowlisted
        target = sentinel.url("/en/story")
        got = await fetcher.fetch(site.url(f"/chain/3?to={target}"))
        assert got.outcome is not None and got.outcome.kind is FetchKind.BLOCKED
        assert sentinel.connections == 0 and sentinel.hits() == 0


async def test_a_slow_host_times_out(fetcher: PageFetcher, site: NewsSite) -> None:
    got = await fetcher.fetch(site.url("/slow?seconds=30"))
    assert got.outcome is not None and got.outcome.kind is FetchKind.TIMEOUT


async def test_the_per_host_delay_is_held(policy: FetchPolicy, site: NewsSite) -> None:
    import anyio

    delay = 0.2
    gate = HostGate(per_host=2, min_delay=delay)
    async with make_guarded_client(policy) as client:
        fetcher = PageFetcher(client, gate, RobotsCache(client, gate))
        async with anyio.create_task_group() as group:
            for lang in ("en", "de", "fr", "es", "it"):
                group.start_soon(fetcher.fetch, site.url(f"/{lang}/story"))
    gaps = site.gaps()
    assert len(gaps) == 5  # robots.txt and five pages, each after the previous start
    # Measured by the server: arrival times. The gate spaces the starts; between a start
    # and its arrival lie the address check and, for some requests, a new connection, so
    # on a loaded machine one gap arrived 13 ms short of 0.2 s (CI, stop 47). A quarter of
    # the delay allows for that and still fails a gate that holds half of it.
    assert min(gaps) >= delay * 0.75


async def test_a_crawl_delay_slows_the_host_further(policy: FetchPolicy) -> None:
    gate = HostGate(per_host=1, min_delay=0.1)
    gate.set_crawl_delay("h", 2.0)
    gate.set_crawl_delay("h2", 1e6)
    assert gate._delays == {"h": 2.0, "h2": 60.0}


async def test_robots_txt_unreachable_disallows_for_now(policy: FetchPolicy) -> None:
    with NewsSite() as other:  # serves robots.txt, but the guard refuses its port
        gate = HostGate(min_delay=0.0)
        async with make_guarded_client(policy) as client:
            verdict = await RobotsCache(client, gate).check(other.url("/en/story"))
        assert not verdict.allowed and verdict.temporary
        assert other.paths() == []


async def test_a_redirect_into_a_disallowed_path_is_never_followed(
    fetcher: PageFetcher, site: NewsSite
) -> None:
    got = await fetcher.fetch(site.url(f"/redirect?to={site.url('/private/story')}"))
    assert got.outcome is None and "robots.txt" in (got.robots_refusal or "")
    assert "/private/story" not in site.paths()


async def test_a_redirect_to_another_origin_of_the_same_host_reads_its_robots_txt(
    policy: FetchPolicy, site: NewsSite
) -> None:
    with NewsSite() as other:  # same host name, another port: another origin
        allowed = replace(policy, allowlist=(site.hostport, other.hostport))
        gate = HostGate(per_host=1, min_delay=0.0)
        async with make_guarded_client(allowed) as client:
            fetcher = PageFetcher(client, gate, RobotsCache(client, gate))
            got = await fetcher.fetch(site.url(f"/redirect?to={other.url('/private/story')}"))
        assert got.outcome is None  # refused by the other origin's robots.txt, no deadlock
        assert other.paths() == ["/robots.txt"]
