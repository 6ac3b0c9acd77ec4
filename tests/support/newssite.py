"""A loopback news site for full-text tests: article pages wrapped in navigation, share
bars, related lists, comments and a cookie notice, plus the hostile and failing cases.

``NewsSite(address)`` binds any loopback address (``127.0.0.2``… are distinct hosts to
the per-host rules), logs every request with its arrival time (``log``), and serves:

/robots.txt (``Disallow: /private/``), /<lang>/story (en de fr es it), /amp/<lang>/story
(same canonical as /<lang>/story), /paywall/story, /consent/story, /private/story,
/status/<code>?retry_after=N, /huge?mib=20, /endless, /data.json, /redirect?to=URL,
/chain/<n>?to=URL (n hops then URL), /slow?seconds=S, /teaser/<n> (generated articles),
/feed/<name>.xml (RSS of given links: ``add_feed``).
"""

from __future__ import annotations

import html
import itertools
import json
import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.support.newstext import ARTICLES, CONSENT_TEXT, PAYWALL_LEAD

LANG_PATHS = {lang: f"/{lang}/story" for lang in ARTICLES}
ROBOTS = b"User-agent: *\nDisallow: /private/\n"


def _chrome(lang: str, title: str, canonical: str, body: str, extra_head: str = "") -> bytes:
    """A page the way news sites build them: the article is a small part of it."""
    nav = "".join(
        f'<li><a href="/{s.lower()}">{s}</a></li>'
        for s in ("Home", "Politics", "Business", "Technology")
    )
    related = "".join(
        f'<li><a href="/related/{i}">{html.escape(t)}</a></li>'
        for i, t in enumerate(
            (
                "Weather turns mild across the northern valleys this weekend",
                "City council approves a new cycling bridge over the river",
                "Local bakery wins the regional bread prize for the third time",
            )
        )
    )
    comments = "".join(
        f'<div class="comment"><p class="author">reader{i}</p><p>{html.escape(t)}</p></div>'
        for i, t in enumerate(
            (
                "I have been buying through these videos for months and never had a problem.",
                "Who reads the terms before clicking anyway? Nobody I know.",
            )
        )
    )
    page = f"""<!DOCTYPE html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{html.escape(title)} | Loopback Times</title>
<link rel="canonical" href="{html.escape(canonical)}">
<meta property="og:site_name" content="Loopback Times">
<meta name="author" content="Dana Reporter">
<meta property="article:published_time" content="2026-11-30T08:00:00Z">
{extra_head}
<script>window.analytics = {{"page": "article"}};</script>
<style>.share-bar {{ display: flex }}</style></head>
<body>
<header class="site-header"><a class="logo" href="/">Loopback Times</a>
<nav class="main-nav"><ul>{nav}</ul></nav>
<form class="newsletter"><p>Subscribe to our newsletter</p><input name="email"></form></header>
<main>
<div class="share-bar"><a href="#s">Share on social media</a> <a href="#m">Send by e-mail</a>
<a href="#c">Copy link</a></div>
{body}
<aside class="related"><h2>Related articles</h2><ul>{related}</ul></aside>
<section class="comments" id="comments"><h2>Comments</h2>{comments}</section>
</main>
<footer class="site-footer"><p>Loopback Times, all rights reserved. Imprint. Privacy. Contact.</p>
</footer>
<div class="cookie-notice"><p>We use cookies to improve your visit. <a href="/privacy">Manage
settings</a></p></div>
</body></html>"""
    return page.encode("utf-8")


def wrap_page(lang: str, title: str, canonical: str, article_html: str) -> bytes:
    """Any article (trusted HTML of the test's own) inside the site's boilerplate."""
    return _chrome(lang, title, canonical, f'<article class="story">{article_html}</article>')


def article_page(lang: str, canonical: str) -> bytes:
    title, paragraphs = ARTICLES[lang]
    text = "".join(f"<p>{html.escape(p)}</p>\n" for p in paragraphs)
    body = f"""<article class="story"><h1>{html.escape(title)}</h1>
<p class="byline">By <span class="author">Dana Reporter</span>,
<time datetime="2026-11-30T08:00:00Z">30 November 2026</time></p>
<div class="story-body">{text}</div></article>"""
    return _chrome(lang, title, canonical, body)


def teaser_page(n: int, canonical: str) -> bytes:
    """A generated article for the volume runs (distinct text per ``n``)."""
    title, paragraphs = ARTICLES["en"]
    text = "".join(f"<p>Report {n}. {html.escape(p)}</p>\n" for p in paragraphs)
    body = f'<article><h1>{html.escape(title)} ({n})</h1><div class="body">{text}</div></article>'
    return _chrome("en", f"{title} ({n})", canonical, body)


def paywall_page(canonical: str) -> bytes:
    head = (
        '<script type="application/ld+json">{"@type": "NewsArticle", '
        '"isAccessibleForFree": "False"}</script>'
    )
    body = f"""<article><h1>Committee weighs video shopping rules</h1>
<p>{html.escape(PAYWALL_LEAD)}</p>
<div class="paywall"><h2>Subscribe to continue reading</h2>
<p>Get unlimited access for one euro a month.</p><a href="/subscribe">Subscribe</a></div>
</article>"""
    return _chrome("en", "Committee weighs video shopping rules", canonical, body, head)


def consent_page() -> bytes:
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<title>Before you continue</title></head><body>
<div id="didomi-host" class="consent-wall"><h1>Before you continue</h1>
<p>{html.escape(CONSENT_TEXT)}</p><button>Accept all</button><button>Reject all</button>
</div></body></html>""".encode()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        self.server.site.handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def reply(
        self,
        status: int,
        body: bytes = b"",
        content_type: str = "text/html; charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, site: NewsSite, address: str) -> None:
        self.site = site
        super().__init__((address, 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hang up on /endless and /huge on purpose


class NewsSite:
    """One loopback host of the test news site; ``latency`` delays every answer."""

    def __init__(self, address: str = "127.0.0.1", *, latency: float = 0.0) -> None:
        self.address = address
        self.latency = latency
        self.stop = threading.Event()
        self.release = threading.Event()  # set: /slow answers at once
        self.log: list[tuple[str, float]] = []  # (path with query, monotonic arrival)
        self.feeds: dict[str, bytes] = {}
        self.pages: dict[str, bytes] = {}  # extra HTML pages by path
        self._lock = threading.Lock()
        self._httpd = _Server(self, address)
        self.port: int = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def hostport(self) -> str:
        return f"{self.address}:{self.port}"

    def url(self, path: str) -> str:
        return f"http://{self.hostport}{path}"

    def paths(self) -> list[str]:
        with self._lock:
            return [urlsplit(p).path for p, _ in self.log]

    def gaps(self, *, skip: Iterable[str] = ()) -> list[float]:
        """Seconds between consecutive request arrivals (paths in ``skip`` left out)."""
        with self._lock:
            times = [t for p, t in self.log if urlsplit(p).path not in set(skip)]
        return [b - a for a, b in itertools.pairwise(times)]

    def add_feed(self, name: str, links: Iterable[tuple[str, str]], description: str = "") -> str:
        """An RSS feed of (title, link) items with a one-line description; its URL."""
        items = "".join(
            f"<item><title>{html.escape(t)}</title><link>{html.escape(u)}</link>"
            f"<guid>{html.escape(u)}</guid><description>{html.escape(description)}</description>"
            "<pubDate>Mon, 30 Nov 2026 08:00:00 GMT</pubDate></item>"
            for t, u in links
        )
        rss = f'<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>'
        rss += f"<link>{self.url('/')}</link><description>d</description>{items}</channel></rss>"
        self.feeds[f"/feed/{name}.xml"] = rss.encode()
        return self.url(f"/feed/{name}.xml")

    def handle(self, request: _Handler) -> None:
        parts = urlsplit(request.path)
        path, query = parts.path, dict(parse_qsl(parts.query))
        with self._lock:
            self.log.append((request.path, time.monotonic()))
        if self.latency:
            time.sleep(self.latency)
        self._route(request, path, query)

    def _route(self, request: _Handler, path: str, query: dict[str, str]) -> None:
        canonical = self.url(path.removeprefix("/amp"))
        if path == "/robots.txt":
            request.reply(200, ROBOTS, "text/plain")
        elif path in self.feeds:
            request.reply(200, self.feeds[path], "application/rss+xml")
        elif path in self.pages:
            request.reply(200, self.pages[path])
        elif path.removeprefix("/amp") in LANG_PATHS.values():
            request.reply(200, article_page(path.removeprefix("/amp").split("/")[1], canonical))
        elif path.startswith("/teaser/"):
            request.reply(200, teaser_page(int(path.rsplit("/", 1)[1]), canonical))
        elif path == "/paywall/story":
            request.reply(200, paywall_page(canonical))
        elif path == "/consent/story":
            request.reply(200, consent_page())
        elif path == "/private/story":
            request.reply(200, article_page("en", canonical))
        elif path.startswith("/status/"):
            extra = {"Retry-After": query["retry_after"]} if "retry_after" in query else {}
            request.reply(int(path.rsplit("/", 1)[1]), b"no", "text/plain", extra)
        elif path == "/huge":
            self._huge(request, int(query.get("mib", "20")))
        elif path == "/endless":
            self._endless(request)
        elif path == "/data.json":
            request.reply(200, json.dumps({"text": "not a page"}).encode(), "application/json")
        elif path == "/redirect":
            request.reply(302, b"", "text/plain", {"Location": query["to"]})
        elif path.startswith("/chain/"):
            hops = int(path.rsplit("/", 1)[1])
            nxt = f"/chain/{hops - 1}?to={query['to']}" if hops > 1 else query["to"]
            request.reply(302, b"", "text/plain", {"Location": nxt})
        elif path == "/slow":
            self.release.wait(float(query.get("seconds", "10")))
            request.reply(200, article_page("en", canonical))
        else:
            request.reply(404, b"not found", "text/plain")

    def _huge(self, request: _Handler, mib: int) -> None:
        # Honest Content-Length: the client must refuse it before reading the body.
        size = mib * 1024 * 1024
        request.send_response(200)
        request.send_header("Content-Type", "text/html")
        request.send_header("Content-Length", str(size))
        request.end_headers()
        chunk = b"<p>" + b"x" * 65530 + b"</p>"
        try:
            for _ in range(size // len(chunk)):
                if self.stop.is_set():
                    return
                request.wfile.write(chunk)
        except OSError:
            return

    def _endless(self, request: _Handler) -> None:
        # No length, no end: only the cap (or the deadline) stops the client.
        request.send_response(200)
        request.send_header("Content-Type", "text/html")
        request.send_header("Connection", "close")
        request.end_headers()
        request.close_connection = True
        try:
            request.wfile.write(b"<html><body>")
            while not self.stop.is_set():
                request.wfile.write(b"<p>more and more words</p>" * 2000)
        except OSError:
            return

    def close(self) -> None:
        self.stop.set()
        self.release.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def __enter__(self) -> NewsSite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
