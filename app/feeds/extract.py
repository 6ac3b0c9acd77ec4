"""An article's page: fetched politely through the guarded client, its main text extracted.

Two halves, used by ``polling.extraction``:

* ``PageFetcher.fetch`` (async, I/O): robots.txt first (``feeds.robots``), then the
  page under the host gate (``feeds.hosts``: per-host concurrency, minimum delay,
  Retry-After), through the one ``GuardedClient`` (SSRF guard at every connection
  and hop, deadlines, decoded-size cap) accepting only HTML and XHTML.
* ``extract_page`` (CPU, run in worker processes): trafilatura finds the main text
  and the metadata; the text is sanitised like feed content; paywall stubs and
  consent interstitials are recognised and never returned as the article's text.

Neither half stores anything or tags.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from app.core.pages import PageOutcome
from app.core.text import html_to_text
from app.core.types import FetchKind, FetchOutcome
from app.core.urls import canonical_url
from app.feeds.hosts import HostBlocked, HostGate
from app.feeds.http import Accept, GuardedClient, HopCheck, media_type
from app.feeds.robots import RobotsCache
from app.feeds.sanitize import sanitize_html

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})
PAGE_ACCEPT = Accept("text/html, application/xhtml+xml;q=0.9", types=HTML_TYPES)
# Less text than this is never an article (a stub, a banner, an error page).
MIN_TEXT = 400
# With a wall's markers on the page, less text than this is the wall's teaser.
WALLED_TEXT = 1500
MAX_TEXT = 200_000  # characters kept of one page's text

# Markup of consent and paywall layers, matched as lower-case substrings (a plain
# substring scan of the page is ~20x cheaper than one case-insensitive alternation).
_CONSENT_MARKERS = (
    "cookieconsent",
    "cookie-consent",
    "consent-banner",
    "consentbanner",
    "consent-wall",
    "consentwall",
    "consent-layer",
    "consent-modal",
    "cookiewall",
    "cookie-wall",
    "didomi",
    "onetrust",
    "sp_message",
    "qc-cmp",
    "usercentrics",
    "cmp-container",
    "cmp-dialog",
    "cmp-wrapper",
    "gdpr-consent",
    "gdprconsent",
)
_PAYWALL_MARKERS = (
    "paywall",
    "regwall",
    "subscriber-only",
    "subscribers-content",
    "subscriber-content",
    "premium-content",
    "premium-article",
    "tp-modal",
    "piano-",
)
_FREE = re.compile(r'"isaccessibleforfree"\s*:\s*"?false')
_CONSENT_WORDS = re.compile(
    r"\b(cookies?|consent|einwilligung|zustimm\w*|consentement|consenso|consentimiento|"
    r"datenschutz\w*|privacy)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class PageFetch:
    """A page fetch's result: the fetch outcome, or why robots.txt kept us away."""

    outcome: FetchOutcome | None
    robots_refusal: str | None = None
    robots_temporary: bool = False
    blocked_for: float = 0.0  # the host's Retry-After still runs this long: not fetched


class PageFetcher:
    """robots.txt, then the page, each under the host's turn."""

    def __init__(self, client: GuardedClient, gate: HostGate, robots: RobotsCache) -> None:
        self.client = client
        self.gate = gate
        self.robots = robots

    async def fetch(self, url: str) -> PageFetch:
        try:
            verdict = await self.robots.check(url)
            # A refused address is the guard's to report (BLOCKED), not robots.txt's.
            if not verdict.allowed and not verdict.blocked:
                return PageFetch(None, verdict.reason, verdict.temporary)
            host = urlsplit(url).hostname or ""
            accept = replace(PAGE_ACCEPT, hop_check=self._hop_check(host))
            async with self.gate.turn(host):
                outcome = await self.client.fetch(url, accept=accept)
        except HostBlocked as exc:
            return PageFetch(None, str(exc), blocked_for=exc.seconds)
        if outcome.kind is FetchKind.RATE_LIMITED and outcome.retry_after_seconds:
            self.gate.block(host, outcome.retry_after_seconds)
        if outcome.kind is FetchKind.DISALLOWED:
            return PageFetch(None, outcome.error)
        return PageFetch(outcome)

    def _hop_check(self, held: str) -> HopCheck:
        """Every redirect hop obeys its own site's robots.txt too. A hop to the host whose
        turn this fetch holds reads robots.txt inside that turn (no second turn)."""

        async def check(url: str) -> str | None:
            same = (urlsplit(url).hostname or "") == held
            verdict = await self.robots.check(url, gated=not same)
            return None if verdict.allowed or verdict.blocked else verdict.reason

        return check


@dataclass(frozen=True, slots=True)
class ExtractedPage:
    """What a page yielded. ``outcome`` OK means ``html``/``text`` are the article."""

    outcome: PageOutcome
    reason: str | None = None
    html: str = ""  # sanitised
    text: str = ""  # plain, paragraphs separated by blank lines
    title: str | None = None
    author: str | None = None
    date: str | None = None  # ISO date as the page declares it
    site_name: str | None = None
    canonical: str | None = None  # canonicalised <link rel=canonical> / og:url


def extract_page(body: bytes, *, url: str, content_type: str | None = None) -> ExtractedPage:
    """Main text and metadata of an HTML page; a wall or a stub is an outcome, not text."""
    import trafilatura
    from trafilatura.htmlprocessing import convert_to_html
    from trafilatura.settings import Document

    if content_type is not None and media_type(content_type) not in HTML_TYPES:
        return ExtractedPage(PageOutcome.NOT_HTML, f"not HTML: {media_type(content_type)}")
    markup = _decode(body, content_type)
    document = trafilatura.bare_extraction(
        markup,
        url=url,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        favor_precision=True,
    )
    if not isinstance(document, Document) or document.body is None:
        return _wall(markup, "", url)
    html = sanitize_html(_serialise(convert_to_html(document.body)), base_url=url)
    text = html_to_text(html)[:MAX_TEXT]
    walled = _wall(markup, text, url)
    if walled.outcome is not PageOutcome.OK:
        return walled
    return ExtractedPage(
        PageOutcome.OK,
        html=html,
        text=text,
        title=document.title,
        author=document.author,
        date=document.date,
        site_name=document.sitename,
        canonical=_canonical(document.url, url),
    )


def _decode(body: bytes, content_type: str | None) -> str | bytes:
    """A charset in the header other than UTF-8 wins; otherwise trafilatura reads the
    bytes (lxml parses UTF-8 bytes faster than a decoded string)."""
    match = re.search(r"charset=[\"']?([\w.:-]+)", content_type or "", re.IGNORECASE)
    if match and match.group(1).lower().replace("_", "-") not in ("utf-8", "utf8"):
        try:
            return body.decode(match.group(1), "replace")
        except LookupError:
            pass
    return body


def _serialise(tree: object) -> str:
    from lxml.etree import tostring  # type: ignore[import-untyped]

    return str(tostring(tree, encoding="unicode", method="html"))


def _wall(markup: str | bytes, text: str, url: str) -> ExtractedPage:
    """OK unless the text is a stub: too short, or short beside a wall's markers."""
    length = len(text)
    if length >= WALLED_TEXT:  # no wall leaves this much: skip scanning the markup
        return ExtractedPage(PageOutcome.OK)
    head = markup[:400_000]
    page = (head.decode("utf-8", "replace") if isinstance(head, bytes) else head).lower()
    consent = any(marker in page for marker in _CONSENT_MARKERS)
    paywall = any(marker in page for marker in _PAYWALL_MARKERS)
    paywall = paywall or ("isaccessibleforfree" in page and bool(_FREE.search(page)))
    if length >= MIN_TEXT and not (consent or paywall):
        return ExtractedPage(PageOutcome.OK)
    talks_consent = len(_CONSENT_WORDS.findall(text)) >= 2
    if length < MIN_TEXT and (consent or talks_consent) and not paywall:
        return ExtractedPage(PageOutcome.CONSENT, "a cookie or consent wall instead of the text")
    if length >= MIN_TEXT and consent and not paywall:
        if not talks_consent:
            return ExtractedPage(PageOutcome.OK)  # a banner beside a short article
        return ExtractedPage(PageOutcome.CONSENT, "a cookie or consent wall instead of the text")
    reason = "a paywall" if paywall else f"too little text ({length} characters)"
    return ExtractedPage(PageOutcome.PAYWALL, f"{reason}; the stub was not kept")


def without_headline(text: str, title: str) -> str:
    """The page's text without a first paragraph that repeats the article's title (it is
    tagged and searched beside the title already); other headlines stay."""
    first, _, rest = text.partition("\n\n")
    same = " ".join(first.split()).casefold() == " ".join(title.split()).casefold()
    return rest if same and rest else text


def _canonical(declared: str | None, url: str) -> str | None:
    for candidate in (declared, url):
        if candidate and urlsplit(candidate).scheme in ("http", "https"):
            try:
                return canonical_url(candidate)
            except ValueError:
                continue
    return None
