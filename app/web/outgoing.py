"""Outgoing feeds and exports, with the timeline's filters: Atom, JSON Feed, CSV, JSONL.

Feeds show one page (``limit``, default 50). Exports walk every page with the
keyset cursor, each page in its own short read transaction, and stream rows, so
a large export neither holds a transaction open nor builds the file in memory.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse

from app.core.timeline import MAX_LIMIT, Cursor, TimelineFilter
from app.core.types import Article
from app.store.articles import ArticleStore
from app.store.db import Database
from app.web.auth import template_user
from app.web.params import parse_filter

router = APIRouter(tags=["outgoing"], include_in_schema=False)
ATOM_NS = "http://www.w3.org/2005/Atom"
EXPORT_CAP = 100_000
RISKY_START = ("=", "+", "-", "@", "\t", "\r")
TITLE = "newsmon: Amazon × TikTok"
CSV_FIELDS = (
    "id",
    "published_at",
    "title",
    "url",
    "sources",
    "language",
    "relevant",
    "themes",
    "flags",
    "author",
)


def _page(request: Request, flt: TimelineFilter) -> list[Article]:
    db: Database = request.app.state.db
    with db.read() as session:
        return list(ArticleStore(session).timeline(flt).items)


def iter_articles(
    db: Database, flt: TimelineFilter, *, signed_in: bool = True
) -> Iterator[Article]:
    """Every article matching ``flt``, newest first, one page per transaction; a
    visitor (``signed_in=False``) gets no editorial flags."""
    flt = dataclasses.replace(flt, limit=MAX_LIMIT)
    sent = 0
    while sent < EXPORT_CAP:
        with db.read() as session:
            page = ArticleStore(session).timeline(flt)
        yield from (a if signed_in else dataclasses.replace(a, flags=()) for a in page.items)
        sent += len(page.items)
        if page.next_cursor is None:
            return
        flt = dataclasses.replace(flt, cursor=Cursor.decode(page.next_cursor))


def _base(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}"


def _self_url(request: Request) -> str:
    return str(request.url)


def _updated(items: list[Article]) -> datetime:
    return max((a.published_at for a in items), default=datetime(2000, 1, 1, tzinfo=UTC))


def _tag_uri(request: Request, article_id: int) -> str:
    return f"{_base(request)}/api/v1/articles/{article_id}"


@router.get("/feed.atom", summary="Atom 1.0 feed of the timeline (same filters)")
def atom_feed(request: Request) -> Response:
    return atom_response(request, parse_filter(request))


def atom_response(request: Request, flt: TimelineFilter, title: str = TITLE) -> Response:
    items = _page(request, flt)
    ET.register_namespace("", ATOM_NS)
    feed = ET.Element(f"{{{ATOM_NS}}}feed")
    _sub(feed, "title", title)
    _sub(feed, "id", _self_url(request))
    _sub(feed, "updated", _updated(items).isoformat())
    ET.SubElement(feed, f"{{{ATOM_NS}}}link", rel="self", href=_self_url(request))
    ET.SubElement(feed, f"{{{ATOM_NS}}}link", rel="alternate", href=_base(request) + "/")
    author = ET.SubElement(feed, f"{{{ATOM_NS}}}author")
    _sub(author, "name", "newsmon")
    for a in items:
        entry = ET.SubElement(feed, f"{{{ATOM_NS}}}entry")
        _sub(entry, "id", _tag_uri(request, a.id))
        _sub(entry, "title", a.title)
        _sub(entry, "updated", a.published_at.isoformat())
        _sub(entry, "published", a.published_at.isoformat())
        if a.author:
            _sub(ET.SubElement(entry, f"{{{ATOM_NS}}}author"), "name", a.author)
        if a.url.startswith(("http://", "https://")):
            ET.SubElement(entry, f"{{{ATOM_NS}}}link", rel="alternate", href=a.url)
        summary = _sub(entry, "summary", a.summary)
        summary.set("type", "html")  # sanitised HTML, escaped once more by the XML writer
        for t in a.themes:
            ET.SubElement(entry, f"{{{ATOM_NS}}}category", term=t.key)
        for s in a.sources:
            _sub(ET.SubElement(entry, f"{{{ATOM_NS}}}contributor"), "name", s.name)
    body = ET.tostring(feed, encoding="utf-8", xml_declaration=True)
    return Response(body, media_type="application/atom+xml; charset=utf-8")


def _sub(parent: ET.Element, name: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, f"{{{ATOM_NS}}}{name}")
    element.text = _xml_safe(text)
    return element


def _xml_safe(text: str) -> str:
    # XML 1.0 forbids most control characters; a feed title with one must not break readers.
    return "".join(c for c in text if c in "\t\n\r" or ord(c) >= 32)


@router.get("/feed.json", summary="JSON Feed 1.1 of the timeline (same filters)")
def json_feed(request: Request) -> JSONResponse:
    return json_feed_response(request, parse_filter(request))


def json_feed_response(request: Request, flt: TimelineFilter, title: str = TITLE) -> JSONResponse:
    items = _page(request, flt)
    body = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "home_page_url": _base(request) + "/",
        "feed_url": _self_url(request),
        "authors": [{"name": "newsmon"}],
        "items": [_json_item(request, a) for a in items],
    }
    return JSONResponse(body, media_type="application/feed+json")


def _json_item(request: Request, a: Article) -> dict[str, object]:
    item: dict[str, object] = {
        "id": _tag_uri(request, a.id),
        "title": a.title,
        "content_html": a.summary or "<p></p>",
        "date_published": a.published_at.isoformat(),
        "tags": [t.key for t in a.themes],
        "authors": (
            [{"name": a.author}]
            if a.author
            else [{"name": s.name} for s in a.sources] or [{"name": "newsmon"}]
        ),
    }
    if a.url.startswith(("http://", "https://")):
        item["url"] = a.url
    return item


def csv_cell(value: str) -> str:
    """Neutralise spreadsheet formulas (OWASP CSV injection): a leading ' makes it text."""
    return "'" + value if value.startswith(RISKY_START) else value


def _csv_row(a: Article) -> list[str]:
    return [
        str(a.id),
        a.published_at.isoformat(),
        a.title,
        a.url,
        "; ".join(s.name for s in a.sources),
        a.language or "",
        "yes" if a.relevant else "no",
        " ".join(t.key for t in a.themes),
        " ".join(a.flags),
        a.author or "",
    ]


@router.get("/export.csv", summary="CSV export of every matching article (streamed)")
def export_csv(request: Request) -> StreamingResponse:
    return csv_response(request, parse_filter(request))


def csv_response(request: Request, flt: TimelineFilter) -> StreamingResponse:
    db: Database = request.app.state.db
    signed_in = template_user(request) is not None

    def rows() -> Iterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(CSV_FIELDS)
        for a in iter_articles(db, flt, signed_in=signed_in):
            writer.writerow([csv_cell(v) for v in _csv_row(a)])
            if buffer.tell() > 64_000:
                yield buffer.getvalue()
                buffer.seek(0)
                buffer.truncate()
        yield buffer.getvalue()

    headers = {"Content-Disposition": 'attachment; filename="newsmon.csv"'}
    return StreamingResponse(rows(), media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/export.jsonl", summary="JSON Lines export of every matching article (streamed)")
def export_jsonl(request: Request) -> StreamingResponse:
    from app.web.schemas import ArticleOut

    flt = parse_filter(request)
    db: Database = request.app.state.db
    signed_in = template_user(request) is not None

    def lines() -> Iterator[str]:
        for a in iter_articles(db, flt, signed_in=signed_in):
            yield json.dumps(ArticleOut.of(a).model_dump(mode="json"), ensure_ascii=False) + "\n"

    headers = {"Content-Disposition": 'attachment; filename="newsmon.jsonl"'}
    return StreamingResponse(lines(), media_type="application/jsonl", headers=headers)
