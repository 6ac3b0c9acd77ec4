"""A fast path for well-formed, ordinary feeds: stdlib expat instead of feedparser.

feedparser costs ~0.8 ms per entry, most of it Python-level SAX dispatch and its
generic element machinery. ``fast_parse`` reads the shapes nearly every feed has (RSS
2.0, RSS 1.0/RDF, Atom 1.0 with the elements newsmon stores) in one expat pass and
returns the same dictionaries feedparser would (``feed`` and ``entries`` with the keys
``app.feeds.parse`` reads), reproducing feedparser's strict-mode rules for them: its
encoding detection (run as is), whitespace stripping, the latin-1 round trip and the
cp1252 map, guid-as-link, first-title-wins, content copied to summary, author e-mail
splitting, xhtml serialisation, xml:lang inheritance, and its date parser (called as
is). Anything else raises ``NotFast`` and the caller uses feedparser: a document expat
rejects, any DTD, any xml:base, an element inside an entry that is not on the list
below, repeated single-valued elements, unusual content types, base64, svg/math.
``tests/feeds/test_fastparse.py`` proves both paths give the same ``ParsedFeed`` on
every corpus we have.

Safety: expat here never reads a DTD (a DOCTYPE aborts the fast path before any
declaration is processed), so there is no entity expansion and no external entity.
"""

from __future__ import annotations

import contextlib
import datetime
import re
import time
import xml.sax.saxutils
from collections.abc import Mapping
from typing import Any
from xml.parsers import expat

from feedparser.api import StrictFeedParser
from feedparser.datetimes import _parse_date
from feedparser.datetimes.rfc822 import months as _RFC822_MONTHS
from feedparser.encodings import convert_to_utf8
from feedparser.html import _cp1252
from feedparser.mixin import _FeedParserMixin
from feedparser.urls import _urljoin
from feedparser.util import FeedParserDict

__all__ = ["NotFast", "fast_parse"]


class NotFast(Exception):
    """The document needs feedparser (unusual, malformed or hostile)."""


_ATOM = "http://www.w3.org/2005/Atom"
_RSS10 = "http://purl.org/rss/1.0/"
_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
_CONTENT = "http://purl.org/rss/1.0/modules/content/"
_DC = "http://purl.org/dc/elements/1.1/"
_SY = "http://purl.org/rss/1.0/modules/syndication/"
_XML = "http://www.w3.org/XML/1998/namespace"
_XHTML = "http://www.w3.org/1999/xhtml"
_SEP = "\x01"

# Namespaces whose elements feedparser never maps onto a field newsmon reads.
_IGNORED_NS = frozenset(
    {
        "http://purl.org/rss/1.0/modules/slash/",
        "http://wellformedweb.org/CommentAPI/",
        "http://rssnamespace.org/feedburner/ext/1.0",
        _SY,
    }
)

# Inside an entry: (namespace, local name) -> kind. Anything not here (and not in an
# ignored namespace) sends the document to feedparser.
_ENTRY_KINDS: dict[tuple[str, str], str] = {
    ("", "title"): "title",
    ("", "link"): "rsslink",
    ("", "guid"): "guid",
    ("", "description"): "description",
    ("", "pubdate"): "published",
    ("", "author"): "rssauthor",
    ("", "category"): "skip",
    ("", "enclosure"): "skip",
    ("", "comments"): "skip",
    ("", "source"): "source",
    (_RSS10, "title"): "title",
    (_RSS10, "link"): "rsslink",
    (_RSS10, "description"): "description",
    (_CONTENT, "encoded"): "encoded",
    (_DC, "creator"): "rssauthor",
    (_DC, "date"): "updated",
    (_DC, "subject"): "skip",
    (_ATOM, "title"): "title",
    (_ATOM, "link"): "atomlink",
    (_ATOM, "id"): "guid",
    (_ATOM, "published"): "published",
    (_ATOM, "updated"): "updated",
    (_ATOM, "summary"): "summary",
    (_ATOM, "content"): "content",
    (_ATOM, "author"): "atomauthor",
    (_ATOM, "category"): "skip",
    (_ATOM, "rights"): "skip",
}
_SINGLE = frozenset(
    {"title", "rsslink", "guid", "description", "published", "updated", "summary"}
    | {"source", "rssauthor", "atomauthor", "encoded", "content"}
)
# Feed level: what newsmon reads; other elements are skipped unless they could set
# one of these in feedparser's hands (then the document goes to feedparser).
_FEED_KINDS: dict[tuple[str, str], str] = {
    ("", "title"): "title",
    ("", "link"): "rsslink",
    ("", "language"): "language",
    ("", "ttl"): "ttl",
    (_RSS10, "title"): "title",
    (_RSS10, "link"): "rsslink",
    (_ATOM, "title"): "title",
    (_ATOM, "link"): "atomlink",
    (_SY, "updateperiod"): "sy_updateperiod",
    (_SY, "updatefrequency"): "sy_updatefrequency",
}
_FEED_SUSPECT = frozenset({"title", "link", "language", "ttl", "description", "subtitle"})
_FEED_SKIP_NS = frozenset({"", _RSS10, _ATOM, _SY, _RDF, *_IGNORED_NS})
_IMAGE_CHILDREN = frozenset({"title", "link", "description", "url", "href", "width", "height"})
_HTML_TYPES = ("application/xhtml+xml", "text/html")
_TEXT_TYPES = frozenset({"text/plain", "text/html", "application/xhtml+xml"})
_COPY_TO_SUMMARY = _TEXT_TYPES
_ENTITY = re.compile("&([A-Za-z0-9_]+);")
_EMAIL = re.compile(
    r"""(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"""
)
# feedparser calls ``_end_<name>`` even for elements inside xhtml content.
_END_METHODS = frozenset(n[5:] for n in dir(StrictFeedParser) if n.startswith("_end_"))
_AUTHOR_SCAN_MAX = 256
_map_type = _FeedParserMixin.map_content_type
_looks_like_html = _FeedParserMixin.looks_like_html
_escape = xml.sax.saxutils.escape
_ATTR_QUOTE = {'"': "&quot;"}


def fast_parse(body: bytes, headers: Mapping[str, str]) -> tuple[dict[str, Any], list[Any]]:
    """(feed, entries) as feedparser's strict parser would give them, or ``NotFast``."""
    result: Any = FeedParserDict(bozo=False, entries=[], feed=FeedParserDict(), headers={})
    result["headers"].update(headers)
    data = convert_to_utf8(result["headers"], body, result)
    if result.get("bozo") or not result.get("encoding"):
        raise NotFast("encoding")
    lang = headers.get("content-language") or None
    return _Reader(lang).run(data)


# The characters ``_cp1252`` maps (C1 controls, U+0080-U+009F): ``str.translate`` with a
# dict looks every character up, so it runs only when one of them is there.
_C1 = re.compile("[\x80-\x9f]")


# The two shapes nearly every feed's dates take, strictly: W3C/RFC 3339 with seconds and a
# "Z" or "+hh:mm" zone (Atom), RFC 822 with a four-digit year and a numeric, "GMT", "UT" or
# "Z" zone (RSS). ASCII digits only.
_W3DTF = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:Z|([+-])([0-9]{2}):([0-9]{2}))\Z"
)
_RFC822 = re.compile(
    r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), )?([0-9]{2}) "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) ([0-9]{4}) "
    r"([0-9]{2}):([0-9]{2}):([0-9]{2}) (?:GMT|UT|Z|([+-])([0-9]{2})([0-9]{2}))\Z"
)


def _parsed_date(value: str) -> time.struct_time | None:
    """feedparser's ``_parse_date(value)``, computed directly for the two strict shapes.

    feedparser tries its W3DTF handler first, then RFC 822: a strict W3DTF date is what
    the first returns; a strict RFC 822 date is refused by the first (its opening token,
    a day name or a two-digit day, is no four-digit year) and read by the second. Both
    end in ``(datetime(...) - timedelta(minutes=m, hours=h)).utctimetuple()``, done here
    the same way; a value either would refuse (day 31 of April, an overflow) goes to
    feedparser's chain, as does any other shape. ~5.5 µs a date through the chain (w3dtf
    tried and failed before every RSS date), a fifth of the fast parser's time per entry;
    ``tests/feeds/test_fastparse.py`` compares the two on generated dates."""
    match = _W3DTF.match(value)
    if match is not None:
        year, month, day, hour, minute, second, sign, zone_h, zone_m = match.groups()
        month_number = int(month)
    else:
        match = _RFC822.match(value)
        if match is None:
            return _parse_date(value)  # type: ignore[no-any-return]
        day, month, year, hour, minute, second, sign, zone_h, zone_m = match.groups()
        month_number = _RFC822_MONTHS[month.lower()]
    hours = minutes = 0
    if sign is not None:
        hours, minutes = int(zone_h), int(zone_m)
        if sign == "-":
            hours, minutes = -hours, -minutes
    try:
        stamp = datetime.datetime(
            int(year), month_number, int(day), int(hour), int(minute), int(second)
        )
        if hours or minutes:
            stamp -= datetime.timedelta(0, 0, 0, 0, minutes, hours)
        return stamp.utctimetuple()
    except (OverflowError, ValueError):
        return _parse_date(value)  # type: ignore[no-any-return]


def _fixed_uri(uri: str) -> str:
    """feedparser's ``_urljoin("", uri)``. With no base, ``urljoin`` returns ``uri`` as it
    is; what is left is ``_urifixer``, which drops the slashes after "scheme://", so text
    without ":///" comes back unchanged, without the regex's substitution (a call into
    Python per match for its template, ~8 µs)."""
    return _urljoin("", uri) if ":///" in uri else uri


def _finish(text: str) -> str:
    """feedparser's ``pop`` tail for every text element (utf-8 document)."""
    if text.isascii():  # both steps below leave ASCII as it is
        return text
    with contextlib.suppress(UnicodeEncodeError, UnicodeDecodeError):
        text = text.encode("iso-8859-1").decode("utf-8")
    return text.translate(_cp1252) if _C1.search(text) else text


# The fast path's entries are plain dicts under feedparser's canonical keys (the only
# ones ``app.feeds.parse`` reads): FeedParserDict's alias look-ups cost ~0.04 ms per
# entry; tests/feeds/test_fastparse.py holds the two paths' ParsedFeeds equal.
_Dict = dict


class _Reader:
    def __init__(self, lang: str | None) -> None:
        self.feed: dict[str, Any] = _Dict()
        self.entries: list[Any] = []
        self.version = ""
        self.langs: list[str | None] = [lang]
        self.depth = 0
        self.entry: Any = None
        self.entry_depth = 0
        self.seen: set[str] = set()
        self.feed_seen: set[str] = set()
        # the element whose text is being collected: (kind, depth, pieces, params)
        self.field: list[Any] | None = None
        self.skip_depth = 0  # > 0: inside a subtree being ignored
        self.image_depth = 0
        self.decls: list[tuple[str, str]] = []
        self.author: int | None = None  # the depth of the Atom author being read
        self.author_child: list[Any] | None = None
        self.pieces: list[str] | None = None

    def run(self, data: bytes) -> tuple[dict[str, Any], list[Any]]:
        parser = expat.ParserCreate(namespace_separator=_SEP)
        parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
        parser.buffer_text = True
        parser.buffer_size = 65536
        parser.StartElementHandler = self.start
        parser.EndElementHandler = self.end
        parser.CharacterDataHandler = self.text
        parser.StartNamespaceDeclHandler = self.namespace
        parser.StartDoctypeDeclHandler = _refuse
        parser.EntityDeclHandler = _refuse
        parser.ExternalEntityRefHandler = _refuse  # type: ignore[assignment]
        parser.SkippedEntityHandler = _refuse
        parser.ProcessingInstructionHandler = None
        try:
            parser.Parse(data, True)
        except expat.ExpatError as exc:
            raise NotFast(f"expat: {exc}") from None
        if not self.version:
            raise NotFast("no feed root")
        return self.feed, self.entries

    # -- expat callbacks -----------------------------------------------------------

    def namespace(self, prefix: str | None, uri: str | None) -> None:
        if uri:
            self.decls.append(("xmlns:" + prefix if prefix else "xmlns", uri))

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        decls, self.decls = self.decls, []
        ns, _, local = name.rpartition(_SEP)
        lower = local.lower()
        lang = self.langs[-1]
        if attrs:
            for key in attrs:
                if key == "base" or (key.endswith("base") and key.startswith(_XML)):
                    raise NotFast("xml:base")
            given = attrs.get(_XML + _SEP + "lang", attrs.get("lang"))
            if given == "":
                lang = None
            elif given is not None:
                lang = given
        self.langs.append(lang)
        if self.pieces is not None:  # inside xhtml content
            self._xhtml_start(ns, lower, attrs, decls)
            return
        if self.skip_depth:
            if self.image_depth and (ns or lower not in _IMAGE_CHILDREN):
                raise NotFast("image content")
            return
        if self.field is not None or self.author_child is not None:
            raise NotFast("markup inside a text element")
        if self.depth == 1:
            self._root(ns, lower, lang)
            return
        if self.entry is not None:
            if self.author is not None:
                self._author_child(ns, lower)
                return
            self._entry_child(ns, lower, attrs, lang)
            return
        if self._is_entry(ns, lower):
            self._start_entry(attrs)
            return
        self._feed_child(ns, lower, attrs, lang)

    def end(self, name: str) -> None:
        depth = self.depth
        self.depth -= 1
        self.langs.pop()
        if self.pieces is not None:
            field = self.field
            assert field is not None
            if depth > field[1]:
                local = name.rpartition(_SEP)[2].lower()
                self.pieces.append(f"</{local}>")
                return
        if self.skip_depth:
            if depth == self.skip_depth:
                self.skip_depth = 0
                self.image_depth = 0
            return
        if self.author_child is not None:
            key, pieces = self.author_child
            self.author_child = None
            assert self.author is not None
            value = "".join(pieces).strip()
            self._save_author(key, value)
            return
        field = self.field
        if field is not None:
            self.field = None
            self._close(field)
            return
        if self.author is not None and depth == self.author:
            self._end_atom_author()
            return
        if self.entry is not None and depth == self.entry_depth:
            self._end_entry()

    def text(self, data: str) -> None:
        if self.pieces is not None:
            self.pieces.append(_escape(data))
        elif self.field is not None:
            self.field[2].append(data)
        elif self.author_child is not None:
            self.author_child[1].append(data)

    # -- structure -------------------------------------------------------------------

    def _root(self, ns: str, lower: str, lang: str | None) -> None:
        if ns == "" and lower == "rss":
            self.version = "rss"
        elif ns == _ATOM and lower == "feed":
            self.version = "atom10"
        elif ns == _RDF and lower == "rdf":
            self.version = "rss10"
        else:
            raise NotFast("root element")
        if lang:
            self.feed["language"] = lang.replace("_", "-")

    def _is_entry(self, ns: str, lower: str) -> bool:
        if self.version == "atom10":
            return ns == _ATOM and lower == "entry" and self.depth == 2
        if lower != "item":
            return False
        if self.version == "rss":
            return ns == "" and self.depth == 3
        return ns == _RSS10 and self.depth == 2

    def _start_entry(self, attrs: dict[str, str]) -> None:
        entry = _Dict()
        about = attrs.get(_RDF + _SEP + "about")
        if about:
            entry["id"] = about
        self.entry = entry
        self.entry_depth = self.depth
        self.seen = set()

    def _feed_child(self, ns: str, lower: str, attrs: dict[str, str], lang: str | None) -> None:
        if self.version == "rss" and self.depth == 2:
            if ns == "" and lower == "channel":
                return
            raise NotFast("rss child")
        if self.version == "rss10" and self.depth == 2 and ns == _RSS10 and lower == "channel":
            return
        parent_ok = self.depth == (2 if self.version == "atom10" else 3)
        kind = _FEED_KINDS.get((ns, lower)) if parent_ok else None
        if kind is None:
            if ns not in _FEED_SKIP_NS and lower in _FEED_SUSPECT:
                raise NotFast("feed-level element")
            if ns in ("", _RSS10) and lower in ("item", "entry", "items"):
                if lower == "items":  # RSS 1.0's table of contents
                    self.skip_depth = self.depth
                    return
                raise NotFast("misplaced entry")
            self.skip_depth = self.depth
            if ns in ("", _RSS10) and lower in ("image", "textinput"):
                self.image_depth = self.depth
            return
        if kind == "atomlink":
            self._atom_link(self.feed, attrs)
            self.skip_depth = self.depth
            return
        if kind in self.feed_seen:
            raise NotFast("repeated feed element")
        self.feed_seen.add(kind)
        params = None
        if kind == "title":
            params = self._params(attrs, "text/plain", lang)
        self.field = [kind, self.depth, [], params, None]

    def _entry_child(self, ns: str, lower: str, attrs: dict[str, str], lang: str | None) -> None:
        if self.depth != self.entry_depth + 1:
            raise NotFast("nested entry element")
        kind = _ENTRY_KINDS.get((ns, lower))
        if kind is None:
            if ns in _IGNORED_NS:
                self.skip_depth = self.depth
                return
            raise NotFast(f"entry element {lower}")
        if kind in _SINGLE:
            group = "summary" if kind == "description" else kind
            if group in self.seen:
                raise NotFast(f"repeated {lower}")
            self.seen.add(group)
        if kind == "skip":
            self.skip_depth = self.depth
            return
        if kind == "atomlink":
            self._atom_link(self.entry, attrs)
            self.skip_depth = self.depth
            return
        if kind == "atomauthor":
            self.author = self.depth
            self.entry.setdefault("authors", []).append(_Dict())
            return
        params = None
        extra: Any = None
        if kind in ("title", "description", "summary", "content", "encoded"):
            default = "text/html" if kind in ("description", "encoded") else "text/plain"
            params = self._params(attrs, default, lang)
            if kind == "content" and attrs.get("src"):
                raise NotFast("content src")
        elif kind == "guid":
            flags = [v for k, v in attrs.items() if k.lower() == "ispermalink"]
            if len(flags) > 1:
                raise NotFast("odd guid attribute")
            extra = (flags[0] if flags else "true") == "true"
        elif kind == "source":
            extra = attrs.get("url")
        field: list[Any] = [kind, self.depth, [], params, extra]
        self.field = field
        if params is not None and params["type"] == "application/xhtml+xml":
            if kind == "title":
                raise NotFast("xhtml title")
            self.pieces = field[2]

    def _params(self, attrs: dict[str, str], default: str, lang: str | None) -> Any:
        if "mode" in attrs:
            raise NotFast("content mode")
        ctype = _map_type(attrs.get("type", default))
        if ctype not in _TEXT_TYPES:
            raise NotFast(f"content type {ctype}")
        if lang:
            lang = lang.replace("_", "-")
        return _Dict({"type": ctype, "language": lang, "base": ""})

    def _atom_link(self, context: Any, attrs: dict[str, str]) -> None:
        attrs = {k.lower(): v for k, v in attrs.items() if _SEP not in k}
        for key in ("rel", "type"):
            if key in attrs:
                attrs[key] = attrs[key].lower()
        rel = attrs.setdefault("rel", "alternate")
        attrs.setdefault("type", "application/atom+xml" if rel == "self" else "text/html")
        if "url" in attrs or "uri" in attrs:
            raise NotFast("link url attribute")
        href = attrs.get("href")
        if not href:
            raise NotFast("link without href")
        href = _fixed_uri(href)
        attrs["href"] = href
        context.setdefault("links", []).append(_Dict(attrs))
        if rel == "alternate" and _map_type(attrs["type"]) in _HTML_TYPES:
            context["link"] = href

    # -- closing text elements -----------------------------------------------------

    def _close(self, field: list[Any]) -> None:
        kind, _depth, pieces, params, extra = field
        if self.pieces is not None:
            self.pieces = None
            pieces = _unwrap_div(pieces)
        value = "".join(pieces).strip()
        if kind in ("rsslink", "guid") and value and (kind != "guid" or extra):
            value = _fixed_uri(value)
        if (
            params is not None
            and self.version != "atom10"
            and params["type"] == "text/plain"
            and _looks_like_html(value)
        ):
            params["type"] = "text/html"
        value = _finish(value)
        if self.entry is None:
            self._close_feed(kind, value, params)
        else:
            self._close_entry(kind, value, params, extra)

    def _close_feed(self, kind: str, value: str, params: Any) -> None:
        feed = self.feed
        if kind == "rsslink":
            value = _ENTITY.sub(r"&\g<1>", value)
            feed["link"] = value
            feed.setdefault("links", []).append(
                _Dict(rel="alternate", type="text/html", href=value)
            )
            return
        feed[kind] = value
        if params is not None:
            params["value"] = value
            feed[kind + "_detail"] = params

    def _close_entry(self, kind: str, value: str, params: Any, extra: Any) -> None:
        entry = self.entry
        if kind == "rsslink":
            value = _ENTITY.sub(r"&\g<1>", value.replace("&amp;", "&"))
            entry["link"] = value
            link = _Dict(rel="alternate", type="text/html")
            if value:
                link["href"] = value
            entry.setdefault("links", []).append(link)
        elif kind == "guid":
            entry["id"] = value
            entry.setdefault("guidislink", bool(extra) and "link" not in entry)
            if extra:
                entry.setdefault("link", value)
        elif kind in ("content", "encoded"):
            params["value"] = value
            entry.setdefault("content", []).append(params)
            entry.setdefault("summary", value)  # feedparser's _save: the first one only
        elif kind in ("published", "updated"):
            entry[kind] = value
            entry[kind + "_parsed"] = _parsed_date(value)
        elif kind == "rssauthor":
            entry["author"] = value
            entry.setdefault("authors", []).append(_Dict())
            _split_author(entry)
        elif kind == "source":
            source = _Dict()
            if extra is not None:
                source["href"] = extra
            if value:
                source["title"] = value
            entry["source"] = source
        else:
            key = "summary" if kind == "description" else kind
            entry[key] = value  # after content's copy too (feedparser's depth map)
            if params is not None:
                params["value"] = value
                entry[key + "_detail"] = params

    def _end_entry(self) -> None:
        self.entries.append(self.entry)
        self.entry = None
        self.skip_depth = 0

    # -- Atom authors ----------------------------------------------------------------

    def _author_child(self, ns: str, lower: str) -> None:
        if ns != _ATOM or lower not in ("name", "email", "uri"):
            raise NotFast("author child")
        if lower == "uri":
            self.skip_depth = self.depth
            return
        self.author_child = [lower, []]

    def _save_author(self, key: str, value: str) -> None:
        entry = self.entry
        entry.setdefault("author_detail", _Dict())[key] = value
        entry["authors"][-1][key] = value

    def _end_atom_author(self) -> None:
        self.author = None
        entry = self.entry
        entry["author"] = ""
        detail = entry["authors"][-1]
        if detail:
            name, email = detail.get("name"), detail.get("email")
            if name and email:
                entry["author"] = f"{name} ({email})"
            elif name:
                entry["author"] = name
            elif email:
                entry["author"] = email

    # -- xhtml content ---------------------------------------------------------------

    def _xhtml_start(
        self, ns: str, lower: str, attrs: dict[str, str], decls: list[tuple[str, str]]
    ) -> None:
        if lower in ("svg", "math") or lower in _END_METHODS or "xhtml_" + lower in _END_METHODS:
            raise NotFast(f"{lower} in xhtml content")
        assert self.pieces is not None
        pairs: list[tuple[str, str]] = [(k.lower(), v) for k, v in decls]
        for key, value in attrs.items():
            if _SEP in key:
                attr_ns, _, attr_local = key.rpartition(_SEP)
                if attr_ns != _XML:
                    raise NotFast("namespaced attribute in content")
                key = "xml:" + attr_local
            key = key.lower()
            if key in ("rel", "type"):
                value = value.lower()
            pairs.append((key, value))
        seen: dict[str, str] = {}
        for key, value in pairs:
            seen.setdefault(key, value)
        rendered = "".join(f' {k}="{_escape(v, _ATTR_QUOTE)}"' for k, v in seen.items())
        self.pieces.append(f"<{lower}{rendered}>")


def _unwrap_div(pieces: list[str]) -> list[str]:
    """feedparser drops an enclosing ``<div>`` of xhtml content."""
    while pieces and len(pieces) > 1 and not pieces[-1].strip():
        del pieces[-1]
    while pieces and len(pieces) > 1 and not pieces[0].strip():
        del pieces[0]
    first = pieces[0] if pieces else ""
    if (first == "<div>" or first.startswith("<div ")) and pieces[-1] == "</div>":
        depth = 0
        for piece in pieces[:-1]:
            if piece.startswith("</"):
                depth -= 1
                if depth == 0:
                    break
            elif piece.startswith("<") and not piece.endswith("/>"):
                depth += 1
        else:
            pieces = pieces[1:-1]
    return pieces


def _split_author(entry: Any) -> None:
    """feedparser's ``_sync_author_detail`` for an RSS author string."""
    author, email = entry.get("author"), None
    if not author:
        return
    if len(author) > _AUTHOR_SCAN_MAX:  # feedparser#562: the regex is quadratic
        raise NotFast("long author")
    match = _EMAIL.search(author)
    if match:
        email = match.group(0)
        author = author.replace(email, "")
        author = author.replace("()", "").replace("<>", "").replace("&lt;&gt;", "").strip()
        if author and author[0] == "(":
            author = author[1:]
        if author and author[-1] == ")":
            author = author[:-1]
        author = author.strip()
    detail: dict[str, Any] = _Dict()
    if author or email:
        detail = entry.setdefault("author_detail", detail)
    if author:
        detail["name"] = author
    if email:
        detail["email"] = email


def _refuse(*_: Any) -> None:
    raise NotFast("DTD or entity")
