"""Pytest fixtures around ``feedsrv``; import them from a conftest.

    from tests.support.fixtures import feed_server, feed_policy  # noqa: F401

``feed_server`` is allowlisted by ``feed_policy`` (exactly ``127.0.0.1:<its port>``), so
the SSRF guard stays on in end-to-end tests; ``sentinel_server`` is a second loopback
server that nothing allowlists, for asserting that a refused fetch sent no byte.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import trustme

from app.feeds.http import FetchPolicy
from tests.support.feedsrv import FeedServer

# Small limits keep hostile-route tests fast; they are bounds, never timing assertions.
TEST_POLICY = FetchPolicy(connect_timeout=2.0, read_timeout=2.0, deadline=5.0)


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


@pytest.fixture
def sentinel_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


@pytest.fixture
def feed_policy(feed_server: FeedServer) -> FetchPolicy:
    return replace(TEST_POLICY, allowlist=(f"127.0.0.1:{feed_server.port}",))


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def ca_file(tls_ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    return str(path)


def _server_context(ca: trustme.CA, *names: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(context)
    return context


@pytest.fixture
def tls_feed_server(tls_ca: trustme.CA) -> Iterator[FeedServer]:
    """HTTPS with a certificate for 127.0.0.1 and localhost, signed by ``tls_ca``."""
    with FeedServer(tls=_server_context(tls_ca, "127.0.0.1", "localhost")) as server:
        yield server


@pytest.fixture
def wrong_host_tls_server(tls_ca: trustme.CA) -> Iterator[FeedServer]:
    """HTTPS signed by ``tls_ca`` but for ``other.test``: a hostname mismatch."""
    with FeedServer(tls=_server_context(tls_ca, "other.test")) as server:
        yield server
