"""Decide what a parsed feed means for the store: article drafts with their keys.

Pure: identity, dates, story fingerprints. Tagging is applied by the poller to the
drafts (``with_tags``); the store executes the drafts as atomic upserts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from app.core.fingerprint import story_keys
from app.core.identity import dedupe_batch
from app.core.types import Evidence, ParsedFeed, ThemeTag

STORY_BANDS = 4


@dataclass(frozen=True, slots=True)
class Tags:
    """What the tagger said about one article."""

    language: str | None
    relevant: bool
    relevance_score: float
    relevance_reason: str
    relevance_evidence: tuple[Evidence, ...]
    themes: tuple[ThemeTag, ...]
    theme_scores: dict[str, float]
    version: str


NO_TAGS = Tags(None, False, 0.0, "", (), (), {}, "")


@dataclass(frozen=True, slots=True)
class StoredForm:
    """What SQLite's article row and its theme rows store for a draft's dates and tags,
    encoded where the draft was tagged (``app.store.stored``)."""

    published_at: str  # the article's ``published_at`` as SQLite stores it
    window: tuple[str, str]  # published_at -/+ the story window, as stored (clustering)
    relevance_evidence: str  # JSON
    theme_scores: str  # JSON
    theme_mask: int
    themes: tuple[tuple[str, float, str], ...]  # (theme, score, evidence JSON) per tag


@dataclass(frozen=True, slots=True)
class ArticleDraft:
    key: str  # sha256 hex, the article's unique key
    key_kind: str  # url | guid | content
    url: str
    guid: str | None
    title: str
    author: str | None
    summary: str  # sanitised HTML
    content: str  # sanitised HTML
    text: str
    language: str | None
    published_at: datetime
    published_estimated: bool
    bands: tuple[int, ...]
    tags: Tags = NO_TAGS
    outlet: str | None = None  # a news-search feed's <source>
    # SQLite's stored values of its dates and tags, set where it was tagged
    # (``app.store.stored``); never copied by ``with_tags`` or ``dataclasses.replace``.
    stored: StoredForm | None = field(default=None, init=False, compare=False, repr=False)

    def with_tags(self, tags: Tags) -> ArticleDraft:
        # Built directly: ``dataclasses.replace`` cost ~10 us a call, once per entry.
        return ArticleDraft(
            self.key,
            self.key_kind,
            self.url,
            self.guid,
            self.title,
            self.author,
            self.summary,
            self.content,
            self.text,
            tags.language or self.language,
            self.published_at,
            self.published_estimated,
            self.bands,
            tags,
            self.outlet,
        )


def plan_articles(parsed: ParsedFeed, *, feed_url: str, now: datetime) -> list[ArticleDraft]:
    """One draft per distinct article of the feed (duplicates inside the batch merged)."""
    drafts = []
    for kind, key, entry in dedupe_batch(parsed.entries, feed_url):
        published = entry.published_at or entry.updated_at
        body = _body(entry.title, entry.text)
        drafts.append(
            ArticleDraft(
                key=key,
                key_kind=kind,
                url=entry.url or "",
                guid=entry.guid,
                title=entry.title or _untitled(entry.text),
                author=entry.author,
                summary=entry.summary_html,
                content=entry.content_html,
                text=body,
                language=entry.language or parsed.language,
                published_at=published or now,
                published_estimated=published is None or entry.date_clamped,
                bands=story_bands(entry.title or _untitled(entry.text)),
                outlet=entry.outlet,
            )
        )
    return drafts


def story_bands(title: str) -> tuple[int, ...]:
    """The story-cluster look-up keys of a headline (``fingerprint.story_keys``)."""
    bands = story_keys(title)
    return bands if len(bands) == STORY_BANDS else ()


def _body(title: str, text: str) -> str:
    """The entry's text without its title paragraph: tagged and searched beside the title."""
    if title and text.startswith(title):
        return text[len(title) :].lstrip("\n")
    return text


def _untitled(text: str) -> str:
    first = text.split("\n", 1)[0].strip()
    return (first[:120] + "…") if len(first) > 120 else (first or "(untitled)")
