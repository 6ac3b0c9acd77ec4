"""The CPU-bound half of full text, run inside worker processes: page bytes → main text
→ tags. Like ``ingest`` for feeds: picklable values in and out, no network, no database.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from app.core.decide import Tags
from app.core.pages import PageOutcome
from app.feeds.extract import ExtractedPage, extract_page, without_headline


@dataclass(frozen=True, slots=True)
class PageWork:
    page: ExtractedPage
    tags: Tags | None  # None unless the page yielded the article's text


def failed_page(reason: str) -> PageWork:
    return PageWork(ExtractedPage(PageOutcome.ERROR, reason), None)


def extract_and_tag(
    body: bytes,
    url: str,
    content_type: str | None,
    title: str,
    summary_html: str,
    language: str | None,
) -> PageWork:
    """Extract the page; on success tag the article with the page's text."""
    from app.tagging import load_tagger
    from app.tagging.apply import tag_article

    page = extract_page(body, url=url, content_type=content_type)
    if page.outcome is not PageOutcome.OK:
        return PageWork(page, None)
    page = replace(page, text=without_headline(page.text, title))
    tags = tag_article(
        load_tagger(), title=title, summary_html=summary_html, text=page.text, language=language
    )
    return PageWork(page, tags)
