"""Sanitising feed content with nh3 (ammonia) and an explicit allowlist.

feedparser's own sanitiser is slow and lets through svg/MathML ``xlink:href``,
``jav&#x09;ascript:``, ``file:`` and ``data:`` URLs (RELIABILITY.md finding 1),
so feedparser runs with ``sanitize_html=False`` and everything stored as HTML
goes through ``sanitize_html``. Plain-text fields (titles, authors) go through
``clean_text`` instead and are escaped by the templates, never marked safe.
"""

from __future__ import annotations

import html
import re
from functools import lru_cache
from typing import Literal
from urllib.parse import urljoin, urlsplit

import nh3

from app.core.normalize import URL_MAX, clean_text, strip_controls

__all__ = ["ALLOWED_TAGS", "clean_text", "safe_link", "sanitize_html"]

_TAG_NAMES = (
    "p br hr a b i u s em strong small sub sup mark q cite abbr time del ins "
    "span div ul ol li dl dt dd blockquote pre code kbd samp h1 h2 h3 h4 h5 h6 "
    "img figure figcaption table caption thead tbody tfoot tr th td"
)
ALLOWED_TAGS = frozenset(_TAG_NAMES.split())
# Dropped with their content: their text is code or markup, never article prose.
_DROP_WITH_CONTENT = frozenset(
    {"script", "style", "template", "noscript", "svg", "math", "iframe", "object", "embed"}
    | {"textarea", "select", "title", "head"}
)
# No style, class, id, srcset or target: nothing that can carry a URL unchecked
# or restyle the page around the article.
_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "abbr": {"title"},
    "time": {"datetime"},
    "ol": {"start"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
}
_URL_SCHEMES = {"http", "https", "mailto"}
_LINK_REL = "noopener noreferrer nofollow"
_HTTP = ("http", "https")
# Browsers delete tab, CR and LF anywhere in a URL and trim C0 controls and spaces
# at the ends, so "jav\tascript:" is still javascript: to them.
_URL_IGNORED = re.compile("[\t\n\r]")
_URL_EDGES = "".join(chr(c) for c in range(0x21)) + "\x7f"


def sanitize_html(html_text: str, *, base_url: str | None) -> str:
    """Allowlisted HTML; relative URLs resolved against ``base_url`` or dropped."""
    if not html_text:
        return ""
    dirty = strip_controls(html_text)
    # Relative URLs are all a base changes; entries resolve theirs against their own
    # link, so a sanitiser per base would be built for nearly every entry. Markup whose
    # every href and src is an absolute http(s) URL (or that has none) takes the shared
    # one: its output is the same under any base.
    lower = dirty.lower()
    occurrences = lower.count("href") + lower.count("src")
    if occurrences and occurrences != len(_ABSOLUTE_URL_ATTRIBUTE.findall(lower)):
        return _cleaner(safe_link(base_url, None)).clean(dirty)
    return _cleaner(None).clean(dirty)


# Of every "href" or "src" in the lower-cased markup (names, values, text: counted
# conservatively), those that open an attribute with an absolute http(s) URL. Equal
# counts: no relative URL can be in the markup.
_ABSOLUTE_URL_ATTRIBUTE = re.compile(r"""(?:href|src)\s*=\s*["']?https?://""")


@lru_cache(maxsize=64)
def _cleaner(base: str | None) -> nh3.Cleaner:
    """The sanitiser for one base URL (None: relative URLs dropped), built once:
    ``nh3.clean`` converted the whole allowlist into a new sanitiser on every call,
    which cost more than cleaning a feed's summary. An entry's summary and content share
    their base (the entry's link); markup without relative URLs shares ``_cleaner(None)``."""
    relative: Literal["deny"] | tuple[Literal["rewrite_with_base"], str] = (
        ("rewrite_with_base", base) if base else "deny"
    )
    return nh3.Cleaner(
        tags=set(ALLOWED_TAGS),
        clean_content_tags=set(_DROP_WITH_CONTENT),
        attributes=_ATTRIBUTES,
        url_schemes=_URL_SCHEMES,
        link_rel=_LINK_REL,
        url_relative=relative,
        strip_comments=True,
    )


# An address ``safe_link`` returns unchanged without looking further: lower-case http(s),
# a plain host name with no user or port, then printable ASCII with no space. Nearly every
# entry link is one; the general path (unescaping, splitting, the port's check) cost
# ~15 us per link, once for each entry's link and each base its HTML is resolved against.
_PLAIN_HTTP = re.compile(r"https?://[A-Za-z0-9.\-]+(?:[/?#][!-~]*)?")


def safe_link(url: str | None, base_url: str | None) -> str | None:
    """An absolute http(s) URL, or None (javascript:, data:, file:, junk, over 4 KB)."""
    if not url:
        return None
    if len(url) <= URL_MAX and _PLAIN_HTTP.fullmatch(url):
        return url
    return _safe_link(url, base_url)


def _safe_link(url: str, base_url: str | None) -> str | None:
    cleaned = _URL_IGNORED.sub("", url).strip(_URL_EDGES)
    # A feed that double-escapes gives "jav&#x09;ascript:"; judge the scheme as a
    # browser would after unescaping, but keep the URL itself as given.
    probe = _URL_IGNORED.sub("", html.unescape(cleaned)).strip(_URL_EDGES)
    if _scheme(probe) not in ("", *_HTTP) or not cleaned:
        return None
    if _scheme(cleaned) == "":
        base = safe_link(base_url, None) if base_url else None
        if base is None:
            return None
        try:
            cleaned = urljoin(base, cleaned)
        except ValueError:  # "//[x": an unclosed IPv6 host (it failed the whole feed)
            return None
    return cleaned if _is_absolute_http(cleaned) and len(cleaned) <= URL_MAX else None


def _scheme(url: str) -> str:
    head, sep, _ = url.partition(":")
    if not sep or not re.fullmatch(r"[A-Za-z][A-Za-z0-9+.\-]*", head):
        return ""
    return head.lower()


def _is_absolute_http(url: str) -> bool:
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme.lower() in _HTTP and bool(parts.hostname) and " " not in url
