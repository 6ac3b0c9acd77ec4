"""The tagger applied to an article as stored: its output turned into the ``Tags`` value
that ``core.decide`` drafts and the stores carry.

Shared by ingest (in the parse workers) and by ``newsmon retag``; importing it loads the
tagger's libraries, so the poller's main process imports it only inside worker jobs.
"""

from __future__ import annotations

from app.core.decide import Tags
from app.core.text import html_to_text, is_lead_of
from app.tagging import Tagger, TagResult


def tags_of(result: TagResult) -> Tags:
    return Tags(
        language=result.language,
        relevant=result.relevant,
        relevance_score=result.relevance_score,
        relevance_reason=result.relevance_reason,
        relevance_evidence=result.relevance_evidence,
        themes=result.themes,
        theme_scores=dict(result.theme_scores),
        version=result.version,
    )


def tag_article(
    tagger: Tagger,
    *,
    title: str,
    summary_html: str,
    text: str,
    language: str | None,
    summary_text: str | None = None,
) -> Tags:
    """Tag one article as stored: evidence offsets index ``title``, the plain
    summary (``html_to_text(summary_html)``) and ``text``. ``summary_text``: that plain
    summary when the caller has it already (the parser computes it for the entry's text)."""
    summary = summary_text
    if summary is None:
        summary = html_to_text(summary_html) if summary_html else ""
    if summary and is_lead_of(summary, text):
        summary = ""  # the lead is already the start of the body; count it once
    return tags_of(tagger.tag(title=title, summary=summary, text=text, language=language))
