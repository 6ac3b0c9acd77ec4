"""The SSRF guard, always against real loopback sockets (STYLE rule 15).

Every refusal test also asserts that a sentinel server saw no connection at all; the
``allow_private_networks`` controls prove the same URLs do reach the sentinel, so these
tests would fail if the guard were missing.
"""

from __future__ import annotations

import re
import sys
from dataclasses import replace
from typing import Any

import httpcore
import pytest

from app.core.errors import BlockedURL, InvalidInput
from app.core.types import FetchKind
from app.feeds.guard import GuardedBackend, address_refusal
from app.feeds.http import FetchPolicy, check_url, make_guarded_client
from tests.support.feedsrv import FeedServer
from tests.support.fixtures import TEST_POLICY

pytestmark = pytest.mark.anyio

LOOPBACK_SPELLINGS = [
    "127.1",
    "2130706433",
    "0x7f.0.0.1",
    "0177.0.0.1",
    "127.0.0.2",
    "0.0.0.0",
    "localhost",
    "[::ffff:127.0.0.1]",
    "[::1]",
    "[::]",
    "[64:ff9b::7f00:1]",
]
# Spellings that really reach a 127.0.0.1 listener when nothing guards them. httpx itself
# rejects "0177.0.0.1" as an invalid URL, which also ends as BLOCKED.
ROUTABLE = ["127.1", "2130706433", "0x7f.0.0.1", "0.0.0.0", "[::ffff:127.0.0.1]"]
REFUSED = "private networks are not allowed|invalid URL"

PRIVATE_ADDRESSES = [
    ("127.0.0.1", "127.0.0.1 is a loopback address"),
    ("10.1.2.3", "10.1.2.3 is a private address"),
    ("192.168.0.10", "is a private address"),
    ("172.16.5.4", "is a private address"),
    ("169.254.169.254", "169.254.169.254 is a link-local address"),
    ("100.64.0.1", "100.64.0.1 is a shared (CGNAT) address"),
    ("0.0.0.0", "0.0.0.0 is an unspecified address"),
    ("::", ":: is an unspecified address"),
    ("::1", "::1 is a loopback address"),
    ("fd00:ec2::254", "fd00:ec2::254 is a private address"),
    ("fe80::1", "is a link-local address"),
    ("224.0.0.1", "224.0.0.1 is a multicast address"),
    ("240.0.0.1", "is a private address"),
    ("::ffff:127.0.0.1", "::ffff:127.0.0.1 (127.0.0.1) is a loopback address"),
    ("::ffff:10.0.0.1", "(10.0.0.1) is a private address"),
    ("64:ff9b::7f00:1", "64:ff9b::7f00:1 (127.0.0.1) is a loopback address"),
    ("64:ff9b::a9fe:a9fe", "(169.254.169.254) is a link-local address"),
    ("2002:7f00:1::", "(127.0.0.1) is a loopback address"),
]
PUBLIC_ADDRESSES = ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "64:ff9b::808:808"]
DEFAULT = FetchPolicy()


@pytest.mark.parametrize(("address", "message"), PRIVATE_ADDRESSES)
def test_the_address_rule_names_the_rule_and_the_setting(address: str, message: str) -> None:
    refusal = address_refusal(address, 80, DEFAULT)
    assert refusal is not None
    assert message in refusal
    assert refusal.endswith("private networks are not allowed (NEWSMON_ALLOW_PRIVATE_NETWORKS)")


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_addresses_pass_the_rule(address: str) -> None:
    assert address_refusal(address, 443, DEFAULT) is None


def test_the_allowlist_takes_cidrs_and_exact_ports() -> None:
    policy = FetchPolicy(allowlist=("10.0.0.0/8", "127.0.0.1:8123", "[::1]:9000"))
    assert address_refusal("10.9.8.7", 80, policy) is None
    assert address_refusal("127.0.0.1", 8123, policy) is None
    assert address_refusal("::ffff:127.0.0.1", 8123, policy) is None
    assert address_refusal("::1", 9000, policy) is None
    assert address_refusal("127.0.0.1", 8124, policy) is not None
    assert address_refusal("192.168.1.1", 80, policy) is not None


@pytest.mark.parametrize("spelling", LOOPBACK_SPELLINGS)
def test_check_url_refuses_every_loopback_spelling(spelling: str) -> None:
    with pytest.raises(BlockedURL, match=REFUSED):
        check_url(f"http://{spelling}:8080/feed.xml", DEFAULT)


@pytest.mark.parametrize("spelling", LOOPBACK_SPELLINGS)
async def test_fetch_refuses_every_loopback_spelling_without_touching_the_sentinel(
    spelling: str, sentinel_server: FeedServer
) -> None:
    async with make_guarded_client(TEST_POLICY) as client:
        outcome = await client.fetch(f"http://{spelling}:{sentinel_server.port}/feed.xml")
    assert outcome.kind is FetchKind.BLOCKED
    assert re.search(REFUSED, outcome.error or "")
    assert outcome.body is None
    assert sentinel_server.connections == 0


@pytest.mark.parametrize("spelling", ROUTABLE)
async def test_control_the_same_spellings_reach_the_sentinel_when_allowed(
    spelling: str, sentinel_server: FeedServer
) -> None:
    policy = replace(TEST_POLICY, allow_private_networks=True)
    async with make_guarded_client(policy) as client:
        outcome = await client.fetch(f"http://{spelling}:{sentinel_server.port}/feed.xml")
    assert outcome.kind is FetchKind.OK
    assert sentinel_server.hits("/feed.xml") == 1


@pytest.mark.parametrize(
    "host", ["10.255.255.1", "169.254.169.254", "100.64.0.1", "[fd00:ec2::254]", "192.168.0.1"]
)
async def test_non_loopback_private_targets_are_refused_before_connecting(host: str) -> None:
    # Without the guard these would time out or fail to connect instead of being BLOCKED.
    async with make_guarded_client(TEST_POLICY) as client:
        outcome = await client.fetch(f"http://{host}/latest/meta-data/")
    assert outcome.kind is FetchKind.BLOCKED, outcome.error


async def test_allowlisted_port_passes_while_other_loopback_ports_are_refused(
    feed_server: FeedServer, sentinel_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    async with make_guarded_client(feed_policy) as client:
        allowed = await client.fetch(feed_server.url("/feed.xml"))
        refused = await client.fetch(sentinel_server.url("/feed.xml"))
    assert allowed.kind is FetchKind.OK
    assert refused.kind is FetchKind.BLOCKED
    assert sentinel_server.connections == 0


async def test_redirect_from_allowlisted_port_into_another_port_is_blocked(
    feed_server: FeedServer, sentinel_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    target = sentinel_server.url("/feed.xml")
    async with make_guarded_client(feed_policy) as client:
        outcome = await client.fetch(feed_server.url(f"/redirect?to={target}"))
    assert outcome.kind is FetchKind.BLOCKED
    assert "127.0.0.1 is a loopback address" in (outcome.error or "")
    assert outcome.final_url == target
    assert sentinel_server.connections == 0


@pytest.mark.parametrize("target", ["file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://x/"])
async def test_redirect_to_a_non_http_scheme_is_blocked(
    target: str, feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    async with make_guarded_client(feed_policy) as client:
        outcome = await client.fetch(feed_server.url(f"/redirect?to={target}"))
    assert outcome.kind is FetchKind.BLOCKED
    assert "only http and https" in (outcome.error or "")


CANARY_NAME = "newsmon-canary-feed.xml"
_opened: list[str] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and args and CANARY_NAME in str(args[0]):
        _opened.append(str(args[0]))


sys.addaudithook(_audit)  # permanent, but it only records opens of the canary file


@pytest.mark.parametrize("form", ["file://{path}", "{path}", "gopher://127.0.0.1:{port}/"])
async def test_non_http_urls_are_refused_without_any_io(
    form: str, tmp_path: Any, sentinel_server: FeedServer
) -> None:
    canary = tmp_path / CANARY_NAME
    canary.write_bytes(b"<rss><channel><title>secret</title></channel></rss>")
    _opened.clear()
    url = form.format(path=canary, port=sentinel_server.port)
    with pytest.raises(BlockedURL, match="only http and https"):
        check_url(url, DEFAULT)
    async with make_guarded_client(FetchPolicy(allow_private_networks=True)) as client:
        outcome = await client.fetch(url)
    assert outcome.kind is FetchKind.BLOCKED
    assert "only http and https" in (outcome.error or "")
    assert _opened == []
    assert sentinel_server.connections == 0


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://user:pw@example.com/feed", "credentials"),
        ("http:///feed", "no host"),
        ("http://[::1/feed", "invalid URL"),
    ],
)
def test_malformed_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(BlockedURL, match=message):
        check_url(url, DEFAULT)


def test_check_url_normalises_and_accepts_public_hosts() -> None:
    def resolver(host: str, port: int) -> list[str]:
        return ["93.184.215.14"]

    assert check_url("HTTP://Example.COM/feed#top", DEFAULT, resolver=resolver) == (
        "http://example.com/feed"
    )


def test_check_url_reports_unresolvable_hosts_as_invalid_input() -> None:
    def resolver(host: str, port: int) -> list[str]:
        raise OSError("Name or service not known")

    with pytest.raises(InvalidInput, match="cannot resolve host") as caught:
        check_url("http://nowhere.invalid/", DEFAULT, resolver=resolver)
    assert not isinstance(caught.value, BlockedURL)


class _Rebinding:
    """Answers a public address first and a loopback one afterwards."""

    def __init__(self, private: str = "127.0.0.1") -> None:
        self.calls = 0
        self.private = private

    def __call__(self, host: str, port: int) -> list[str]:
        self.calls += 1
        return ["93.184.215.14"] if self.calls == 1 else [self.private]


class _RecordingBackend(httpcore.AsyncNetworkBackend):
    def __init__(self) -> None:
        self.dialled: list[tuple[str, int]] = []

    async def connect_tcp(self, host: str, port: int, *args: Any, **kw: Any) -> Any:
        self.dialled.append((host, port))
        return httpcore.AsyncNetworkStream()


async def test_backend_dials_exactly_the_address_it_checked() -> None:
    resolver, inner = _Rebinding(), _RecordingBackend()
    backend = GuardedBackend(DEFAULT, resolver=resolver, inner=inner)
    await backend.connect_tcp("rebind.test", 80)
    assert resolver.calls == 1  # one lookup per connection: nothing to rebind between
    assert inner.dialled == [("93.184.215.14", 80)]
    with pytest.raises(BlockedURL, match=r"127\.0\.0\.1 is a loopback address"):
        await backend.connect_tcp("rebind.test", 80)
    assert inner.dialled == [("93.184.215.14", 80)]


async def test_dns_rebinding_after_subscribe_is_caught_at_poll_time(
    sentinel_server: FeedServer,
) -> None:
    resolver = _Rebinding()
    url = f"http://rebind.test:{sentinel_server.port}/feed.xml"
    assert check_url(url, DEFAULT, resolver=resolver) == url
    async with make_guarded_client(TEST_POLICY, resolver=resolver) as client:
        outcome = await client.fetch(url)
    assert outcome.kind is FetchKind.BLOCKED
    assert sentinel_server.connections == 0


async def test_the_name_is_kept_for_host_while_the_vetted_ip_is_dialled(
    feed_server: FeedServer, feed_policy: FetchPolicy
) -> None:
    def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    async with make_guarded_client(feed_policy, resolver=resolver) as client:
        outcome = await client.fetch(f"http://feeds.test:{feed_server.port}/echo-headers")
    assert outcome.kind is FetchKind.OK
    (headers,) = feed_server.request_headers("/echo-headers")
    assert headers["Host"] == f"feeds.test:{feed_server.port}"


async def test_proxy_variables_in_the_environment_do_not_bypass_the_guard(
    monkeypatch: pytest.MonkeyPatch,
    feed_server: FeedServer,
    sentinel_server: FeedServer,
    feed_policy: FetchPolicy,
) -> None:
    # trust_env=False: an environment proxy is never used, so it cannot be a way around.
    with FeedServer() as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.url("/"))
        monkeypatch.setenv("NO_PROXY", "")
        async with make_guarded_client(feed_policy) as client:
            refused = await client.fetch(sentinel_server.url("/feed.xml"))
            allowed = await client.fetch(feed_server.url("/feed.xml"))
        assert proxy.connections == 0
    assert refused.kind is FetchKind.BLOCKED
    assert allowed.kind is FetchKind.OK
    assert sentinel_server.connections == 0
