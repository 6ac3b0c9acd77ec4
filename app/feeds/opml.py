"""OPML import and export.

Import parses with defusedxml, so entity bombs and external entities fail with a
clear ``InvalidInput`` on any libexpat; folders are flattened; only absolute
http(s) feed URLs are imported, the rest are reported. This does not subscribe
or SSRF-check anything: the caller runs each URL through the fetch guard.
"""

from __future__ import annotations

# Stdlib ElementTree only builds output; input is parsed with defusedxml.
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from app.core.errors import InvalidInput
from app.core.normalize import TITLE_MAX, URL_MAX, clean_text
from app.feeds.sanitize import safe_link

MAX_OUTLINES = 5_000


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    url: str
    title: str | None = None
    site_url: str | None = None


@dataclass(frozen=True, slots=True)
class OpmlImport:
    feeds: tuple[OpmlFeed, ...]
    rejected: tuple[str, ...]  # feed URLs refused (not http(s), over 4 KB), capped


def parse_opml(data: bytes, *, max_outlines: int = MAX_OUTLINES) -> list[OpmlFeed]:
    """The feeds of an OPML document (see ``read_opml`` for the rejected ones)."""
    return list(read_opml(data, max_outlines=max_outlines).feeds)


def read_opml(data: bytes, *, max_outlines: int = MAX_OUTLINES) -> OpmlImport:
    """Feeds and rejected URLs; raises ``InvalidInput`` for unsafe or broken documents."""
    root = _parse_xml(data)
    if root.tag.lower() != "opml":
        raise InvalidInput("not an OPML document: the root element is not <opml>", field="file")
    feeds: dict[str, OpmlFeed] = {}
    rejected: list[str] = []
    outlines = 0
    for outline in root.iter("outline"):
        outlines += 1
        if outlines > max_outlines:
            raise InvalidInput(
                f"OPML file has more than {max_outlines} outlines; split it", field="file"
            )
        attrs = {key.lower(): value for key, value in outline.attrib.items()}
        raw_url = attrs.get("xmlurl")
        if raw_url is None:
            continue  # a folder: its children are visited by iter()
        url = safe_link(raw_url, None)
        if url is None:
            rejected.append(clean_text(raw_url, 200))
        elif url not in feeds:
            title = clean_text(attrs.get("title") or attrs.get("text") or "", TITLE_MAX)
            feeds[url] = OpmlFeed(url, title or None, safe_link(attrs.get("htmlurl"), None))
    return OpmlImport(tuple(feeds.values()), tuple(rejected[:100]))


def export_opml(feeds: Iterable[OpmlFeed], *, title: str = "newsmon subscriptions") -> bytes:
    root = ET.Element("opml", version="2.0")
    head = ET.SubElement(root, "head")
    ET.SubElement(head, "title").text = clean_text(title, TITLE_MAX)
    body = ET.SubElement(root, "body")
    for feed in feeds:
        name = clean_text(feed.title or feed.url, TITLE_MAX)
        attrs = {"type": "rss", "text": name, "title": name, "xmlUrl": feed.url[:URL_MAX]}
        if feed.site_url:
            attrs["htmlUrl"] = feed.site_url
        ET.SubElement(body, "outline", attrs)
    output: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return output


def _parse_xml(data: bytes) -> ET.Element:
    try:
        root: ET.Element = fromstring(
            data, forbid_dtd=False, forbid_entities=True, forbid_external=True
        )
        return root
    except DefusedXmlException as exc:
        raise InvalidInput(
            f"OPML rejected: entity declarations and external references are not allowed "
            f"({type(exc).__name__})",
            field="file",
        ) from exc
    except ET.ParseError as exc:
        raise InvalidInput(f"OPML is not well-formed XML: {exc}", field="file") from exc
