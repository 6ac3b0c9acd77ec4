"""Outgoing feeds and exports, with the timeline's filters: Atom, JSON Feed, CSV, JSONL.

Feeds show one page (``limit``, default 50) and answer conditional requests (ETag
and Last-Modified, 304). Entry ids and links come from ``NEWSMON_BASE_URL``, never
from the request's Host header: a forged Host must not poison a cache or give a
reader duplicate entries. Exports walk every page with the keyset cursor, each page
in its own short read transaction, and stream rows, so a large export neither holds
a transaction open nor builds the file in memory.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response, StreamingResponse

from app.core.text import html_to_text
from app.core.timeline import MAX_LIMIT, Cursor, TimelineFilter
from app.core.types import Article
from app.store.articles import ArticleStore
from app.store.db import Database
from app.web.auth import template_user
from app.web.params import api_filter
from app.web.schemas import ArticleOut, article_link

router = APIRouter(tags=["outgoing"])
Filter = Annotated[TimelineFilter, Depends(api_filter)]
ATOM_NS = "http://www.w3.org/2005/Atom"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
EXPORT_CAP = 100_000
RISKY_START = ("=", "+", "-", "@", "\t", "\r")
CSV_FIELDS = (
    "id",
    "published_at",
    "published_estimated",
    "updated_at",
    "title",
    "url",
    "newsmon_link",
    "author",
    "outlets",
    "language",
    "relevant",
    "relevance_score",
    "relevance_reason",
    "themes",
    "flags",
    "summary",
)
EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
BOM = "\ufeff"


def _doc(media_type: str, kind: str = "string") -> dict[int | str, dict[str, Any]]:
    return {
        200: {"content": {media_type: {"schema": {"type": kind}}}},
        304: {"description": "Not modified (If-None-Match or If-Modified-Since matched)"},
    }


# -- feeds ----------------------------------------------------------------------------


def _page(request: Request, flt: TimelineFilter) -> list[Article]:
    db: Database = request.app.state.db
    with db.read() as session:
        return list(ArticleStore(session).timeline(flt).items)


def describe(flt: TimelineFilter) -> str:
    """The filter in words, for a feed's subtitle and an export's file name."""
    parts = []
    if flt.themes:
        parts.append((" and " if flt.themes_mode == "all" else " or ").join(flt.themes))
    if flt.q:
        parts.append(f"search “{flt.q}”")
    if flt.languages:
        parts.append("in " + ", ".join(flt.languages))
    if flt.sources:
        parts.append("outlets " + ", ".join(map(str, flt.sources)))
    if flt.flagged:
        parts.append(f"flagged {flt.flagged}")
    if flt.since:
        parts.append(f"since {flt.since.date().isoformat()}")
    if flt.until:
        parts.append(f"until {flt.until.date().isoformat()}")
    if flt.updated_since:
        parts.append(f"changed since {flt.updated_since.date().isoformat()}")
    if flt.relevance == "all":
        parts.append("including not relevant")
    return ", ".join(parts) or "every relevant article"


def _public_base(request: Request) -> str:
    base: str = request.app.state.settings.public_base
    return base


def _self_url(base: str, request: Request, path: str) -> str:
    query = urlencode(list(request.query_params.multi_items()))
    return f"{base}{path}" + (f"?{query}" if query else "")


def _entry_id(base: str, article_id: int) -> str:
    return f"{base}/api/v1/articles/{article_id}"


def _changed(a: Article) -> datetime:
    return a.updated_at or a.first_seen_at


def _last_change(items: Sequence[Article]) -> datetime:
    return max((_changed(a) for a in items), default=EPOCH)


def _author(a: Article) -> str:
    """The byline, else the outlet that carried it first."""
    return (a.author or "").strip() or (a.sources[0].name if a.sources else "") or "newsmon"


def conditional(request: Request, body: bytes, changed: datetime, media_type: str) -> Response:
    """The body with validators, or 304 when the client's copy is current."""
    etag = f'"{hashlib.sha256(body).hexdigest()[:32]}"'
    modified = changed.replace(microsecond=0)
    headers = {
        "ETag": etag,
        "Last-Modified": format_datetime(modified, usegmt=True),
        "Cache-Control": "no-cache",
        "Vary": "Authorization, Cookie",
    }
    if _fresh(request, etag, modified):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def _fresh(request: Request, etag: str, modified: datetime) -> bool:
    match = request.headers.get("if-none-match")
    if match is not None:  # RFC 9110: If-None-Match wins over If-Modified-Since
        tags = {t.strip().removeprefix("W/") for t in match.split(",")}
        return etag in tags or "*" in tags
    since = request.headers.get("if-modified-since")
    if not since:
        return False
    try:
        when = parsedate_to_datetime(since)
    except (TypeError, ValueError, IndexError):
        return False
    return when.tzinfo is not None and modified <= when


@router.get(
    "/feed.atom",
    summary="Atom 1.0 feed of the timeline (same filters)",
    response_class=Response,
    responses=_doc("application/atom+xml"),
)
def atom_feed(request: Request, flt: Filter) -> Response:
    """One page of the timeline as Atom: `<updated>` is the article's last change,
    the author its byline (else its outlet), `xml:lang` its language, and each entry
    links to the original and to its page on newsmon."""
    return atom_response(request, flt)


def atom_response(request: Request, flt: TimelineFilter, title: str | None = None) -> Response:
    """The Atom document of ``flt`` (the timeline's, or a saved view's under its name)."""
    base = _public_base(request)
    items = _page(request, flt)
    ET.register_namespace("", ATOM_NS)
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    self_url = _self_url(base, request, request.url.path)
    _sub(feed, "title", title or f"newsmon: {describe(flt)}")
    _sub(feed, "subtitle", "Amazon × TikTok news monitoring, filtered: " + describe(flt))
    _sub(feed, "id", self_url)
    _sub(feed, "updated", _last_change(items).isoformat())
    _link(feed, "self", self_url, "application/atom+xml")
    _link(feed, "alternate", base + "/" + self_url.partition(request.url.path)[2], "text/html")
    _sub(ET.SubElement(feed, f"{{{ATOM_NS}}}author"), "name", "newsmon")
    for a in items:
        _atom_entry(feed, a, base)
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return conditional(request, body, _last_change(items), "application/atom+xml; charset=utf-8")


def _atom_entry(feed: ET.Element, a: Article, base: str) -> None:
    entry = ET.SubElement(feed, f"{{{ATOM_NS}}}entry")
    if a.language:
        entry.set(XML_LANG, a.language)
    _sub(entry, "id", _entry_id(base, a.id))
    _sub(entry, "title", a.title)
    _sub(entry, "updated", _changed(a).isoformat())
    _sub(entry, "published", a.published_at.isoformat())
    _sub(ET.SubElement(entry, f"{{{ATOM_NS}}}author"), "name", _author(a))
    if a.url.startswith(("http://", "https://")):
        _link(entry, "alternate", a.url, "text/html")
    _link(entry, "related", article_link(base, a.id), "text/html", "On newsmon")
    summary = _sub(entry, "summary", a.summary)
    summary.set("type", "html")  # sanitised HTML, escaped once more by the XML writer
    for t in a.themes:
        ET.SubElement(entry, f"{{{ATOM_NS}}}category", term=t.key)
    for s in a.sources:
        _sub(ET.SubElement(entry, f"{{{ATOM_NS}}}contributor"), "name", s.name)


def _link(parent: ET.Element, rel: str, href: str, kind: str, title: str = "") -> None:
    link = ET.SubElement(parent, f"{{{ATOM_NS}}}link", rel=rel, href=href, type=kind)
    if title:
        link.set("title", title)


def _sub(parent: ET.Element, name: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM_NS}}}{name}")
    element.text = _xml_safe(text)
    return element


def _xml_safe(text: str) -> str:
    # XML 1.0 forbids most control characters; a feed title with one must not break readers.
    return "".join(c for c in text if c in "\t\n\r" or ord(c) >= 32)


@router.get(
    "/feed.json",
    summary="JSON Feed 1.1 of the timeline (same filters)",
    response_class=Response,
    responses=_doc("application/feed+json", "object"),
)
def json_feed(request: Request, flt: Filter) -> Response:
    return json_feed_response(request, flt)


def json_feed_response(request: Request, flt: TimelineFilter, title: str | None = None) -> Response:
    base = _public_base(request)
    items = _page(request, flt)
    self_url = _self_url(base, request, request.url.path)
    body = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": title or f"newsmon: {describe(flt)}",
        "description": "Amazon × TikTok news monitoring, filtered: " + describe(flt),
        "home_page_url": base + "/" + self_url.partition(request.url.path)[2],
        "feed_url": self_url,
        "authors": [{"name": "newsmon"}],
        "items": [_json_item(base, a) for a in items],
    }
    raw = json.dumps(body, ensure_ascii=False).encode()
    return conditional(request, raw, _last_change(items), "application/feed+json")


def _json_item(base: str, a: Article) -> dict[str, object]:
    item: dict[str, object] = {
        "id": _entry_id(base, a.id),
        "title": a.title,
        "content_html": a.summary or "<p></p>",
        "date_published": a.published_at.isoformat(),
        "date_modified": _changed(a).isoformat(),
        "tags": [t.key for t in a.themes],
        "authors": [{"name": _author(a)}],
        "external_url": article_link(base, a.id),
    }
    if a.language:
        item["language"] = a.language
    if a.url.startswith(("http://", "https://")):
        item["url"] = a.url
    return item


# -- exports ----------------------------------------------------------------------------


def iter_pages(
    db: Database, flt: TimelineFilter, *, signed_in: bool = True
) -> Iterator[tuple[list[Article], dict[int, list[tuple[str, str]]]]]:
    """Every article matching ``flt`` (newest first, at most ``EXPORT_CAP``), a page
    per read transaction, with each page's open flags and their notes; a visitor
    (``signed_in=False``) gets neither flags nor notes."""
    flt = dataclasses.replace(flt, limit=MAX_LIMIT)
    sent = 0
    while sent < EXPORT_CAP:
        with db.read() as session:
            store = ArticleStore(session)
            page = store.timeline(flt)
            notes = store.flag_notes([a.id for a in page.items]) if signed_in else {}
        items = list(page.items)[: EXPORT_CAP - sent]
        if not signed_in:
            items = [dataclasses.replace(a, flags=()) for a in items]
        yield items, notes
        sent += len(page.items)
        if page.next_cursor is None:
            return
        cursor = Cursor.decode(page.next_cursor, ("published", "updated"))
        flt = dataclasses.replace(flt, cursor=cursor)


def export_name(flt: TimelineFilter, extension: str, today: datetime) -> str:
    """``newsmon-<filter>-<date>.<ext>``: the filter in a few safe words."""
    words = "all" if describe(flt) == "every relevant article" else describe(flt)
    slug = re.sub(r"[^a-z0-9]+", "-", words.lower()).strip("-")[:80].strip("-") or "filtered"
    return f"newsmon-{slug}-{today.date().isoformat()}.{extension}"


def csv_cell(value: str) -> str:
    """Neutralise spreadsheet formulas (OWASP CSV injection): a leading ' makes it text."""
    return "'" + value if value.startswith(RISKY_START) else value


def _csv_row(a: Article, base: str, notes: list[tuple[str, str]]) -> list[str]:
    return [
        str(a.id),
        a.published_at.isoformat(),
        "yes" if a.published_estimated else "no",
        _changed(a).isoformat(),
        a.title,
        a.url,
        article_link(base, a.id),
        a.author or "",
        "; ".join(s.name for s in a.sources),
        a.language or "",
        "yes" if a.relevant else "no",
        f"{a.relevance_score:.3f}",
        a.relevance_reason,
        "; ".join(f"{t.key} {t.score:.2f}" for t in a.themes),
        "; ".join(f"{kind}: {note}" if note else kind for kind, note in notes),
        html_to_text(a.summary),
    ]


ExcelQ = Annotated[
    bool, Query(description="Start with a UTF-8 byte order mark, so Excel reads the accents")
]


def _attachment(name: str) -> dict[str, str]:
    return {"Content-Disposition": f'attachment; filename="{name}"'}


@router.get(
    "/export.csv",
    summary="CSV export of every matching article (streamed)",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    description=f"Columns: {', '.join(CSV_FIELDS)}. Up to 100,000 rows, newest first; the "
    "file name names the filter and the date. Cells a spreadsheet would run as a formula "
    "start with an apostrophe.",
)
def export_csv(request: Request, flt: Filter, excel: ExcelQ = False) -> StreamingResponse:
    return csv_response(request, flt, excel=excel)


def csv_response(
    request: Request, flt: TimelineFilter, *, excel: bool = False
) -> StreamingResponse:
    db: Database = request.app.state.db
    base = _public_base(request)
    signed_in = template_user(request) is not None

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        if excel:
            buffer.write(BOM)
        writer = csv.writer(buffer)
        writer.writerow(CSV_FIELDS)
        for page, notes in iter_pages(db, flt, signed_in=signed_in):
            for a in page:
                writer.writerow([csv_cell(v) for v in _csv_row(a, base, notes.get(a.id, []))])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
        yield buffer.getvalue()

    name = export_name(flt, "csv", datetime.now(UTC))
    return StreamingResponse(
        rows(), media_type="text/csv; charset=utf-8", headers=_attachment(name)
    )


@router.get(
    "/export.jsonl",
    summary="JSON Lines export of every matching article (streamed)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/jsonl": {"schema": {"type": "string"}}}}},
)
def export_jsonl(request: Request, flt: Filter, excel: ExcelQ = False) -> StreamingResponse:
    """One article per line, as in the API, plus `flag_notes` (open flags and their
    notes) and `summary_text` (the summary as plain text). Up to 100,000 lines."""
    db: Database = request.app.state.db
    base = _public_base(request)
    signed_in = template_user(request) is not None

    def lines() -> Iterator[str]:
        if excel:
            yield BOM
        for page, notes in iter_pages(db, flt, signed_in=signed_in):
            chunk = []
            for a in page:
                record = ArticleOut.of(a, base).model_dump(mode="json")
                record["flag_notes"] = [{"kind": k, "note": n} for k, n in notes.get(a.id, [])]
                record["summary_text"] = html_to_text(a.summary)
                chunk.append(json.dumps(record, ensure_ascii=False) + "\n")
            yield "".join(chunk)

    name = export_name(flt, "jsonl", datetime.now(UTC))
    return StreamingResponse(lines(), media_type="application/jsonl", headers=_attachment(name))
