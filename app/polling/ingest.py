"""The CPU-bound half of ingest, run inside parse workers: bytes → tagged drafts.

parse (``feeds.parse``) → decide (``core.decide``) → tag (``tagging``). Everything a
worker returns is a small picklable value; nothing here touches the network or
the database.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from app.core.decide import ArticleDraft, StoredForm, Tags, plan_articles
from app.core.types import Evidence, ParsedFeed, ThemeTag
from app.feeds.parse import parse_feed
from app.store.stored import with_stored_form

if TYPE_CHECKING:  # the poller's main process never tags: it need not load the tagger's libraries
    from app.tagging import Tagger


@dataclass(frozen=True, slots=True)
class PreparedFeed:
    title: str | None
    site_url: str | None
    language: str | None
    ttl_seconds: int | None
    bozo_reason: str | None
    error: str | None
    drafts: tuple[ArticleDraft, ...]

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as plain tuples, rebuilt by the constructors: a slotted dataclass's own
        pickling looks its fields up once per object, and a feed's drafts hold ~15
        objects each (tags, themes, evidence); in the poller's main process, which
        unpickles every worker's result, that was ~10 % of its CPU (peer corpus)."""
        head = (self.title, self.site_url, self.language, self.ttl_seconds, self.bozo_reason)
        return (_rebuild, (head, self.error, [_flat_draft(d) for d in self.drafts]))


# The constructor's fields (``stored`` is not one: it travels beside them).
_DRAFT = attrgetter(*(f.name for f in fields(ArticleDraft) if f.init))
_TAGS = attrgetter(*(f.name for f in fields(Tags)))
_THEME = attrgetter(*(f.name for f in fields(ThemeTag)))
_EVIDENCE = attrgetter(*(f.name for f in fields(Evidence)))
# Positions of the nested values in those tuples (the constructors take fields in order).
_DRAFT_TAGS = [f.name for f in fields(ArticleDraft)].index("tags")
_TAGS_EVIDENCE = [f.name for f in fields(Tags)].index("relevance_evidence")
_TAGS_THEMES = [f.name for f in fields(Tags)].index("themes")
_THEME_EVIDENCE = [f.name for f in fields(ThemeTag)].index("evidence")


_STORED = attrgetter(*(f.name for f in fields(StoredForm)))


def _flat_draft(draft: ArticleDraft) -> tuple[Any, ...]:
    """The draft's fields as plain tuples and lists, its ``stored`` values last."""
    values = list(_DRAFT(draft))
    tags = list(_TAGS(draft.tags))
    tags[_TAGS_EVIDENCE] = [_EVIDENCE(e) for e in draft.tags.relevance_evidence]
    themes = []
    for theme in draft.tags.themes:
        flat = list(_THEME(theme))
        flat[_THEME_EVIDENCE] = [_EVIDENCE(e) for e in theme.evidence]
        themes.append(flat)
    tags[_TAGS_THEMES] = themes
    values[_DRAFT_TAGS] = tags
    values.append(None if draft.stored is None else _STORED(draft.stored))
    return tuple(values)


def _rebuild(
    head: tuple[Any, ...], error: str | None, drafts: list[tuple[Any, ...]]
) -> PreparedFeed:
    title, site_url, language, ttl_seconds, bozo_reason = head
    rebuilt = tuple(_draft(values) for values in drafts)
    return PreparedFeed(title, site_url, language, ttl_seconds, bozo_reason, error, rebuilt)


def _draft(values: tuple[Any, ...]) -> ArticleDraft:
    tags = list(values[_DRAFT_TAGS])
    tags[_TAGS_EVIDENCE] = tuple(Evidence(*e) for e in tags[_TAGS_EVIDENCE])
    themes = []
    for flat in tags[_TAGS_THEMES]:
        theme = list(flat)
        theme[_THEME_EVIDENCE] = tuple(Evidence(*e) for e in theme[_THEME_EVIDENCE])
        themes.append(ThemeTag(*theme))
    tags[_TAGS_THEMES] = tuple(themes)
    *fields_, stored = values
    fields_[_DRAFT_TAGS] = Tags(*tags)
    draft = ArticleDraft(*fields_)
    if stored is not None:
        object.__setattr__(draft, "stored", StoredForm(*stored))
    return draft


def failed(reason: str) -> PreparedFeed:
    return PreparedFeed(None, None, None, None, None, reason, ())


def prepare_feed(
    body: bytes, url: str, headers: dict[str, str], now: datetime, stored: bool = True
) -> PreparedFeed:
    """The feed's tagged drafts; ``stored``: each with SQLite's stored values as well."""
    from app.tagging import load_tagger

    parsed = parse_feed(body, url=url, headers=headers, now=now)
    return prepare_parsed(parsed, url=url, now=now, tagger=load_tagger(), stored=stored)


def prepare_parsed(
    parsed: ParsedFeed, *, url: str, now: datetime, tagger: Tagger, stored: bool = True
) -> PreparedFeed:
    from app.tagging.apply import tag_article

    if parsed.error:
        return failed(parsed.error)
    # Each summary's plain text as the parser made it for the entry's text (a draft's
    # summary is its entry's ``summary_html``): tagging need not convert it again.
    plain = {e.summary_html: e.summary_text for e in parsed.entries}
    drafts = tuple(
        d.with_tags(
            tag_article(
                tagger,
                title=d.title,
                summary_html=d.summary,
                text=d.text,
                language=d.language,
                summary_text=plain.get(d.summary),
            )
        )
        for d in plan_articles(parsed, feed_url=url, now=now)
    )
    if stored:  # SQLite's stored values (``app.store.stored``), encoded here in parallel
        # workers, not by the single writer
        drafts = tuple(with_stored_form(d) for d in drafts)
    return PreparedFeed(
        parsed.title,
        parsed.site_url,
        parsed.language,
        parsed.ttl_seconds,
        parsed.bozo_reason,
        None,
        drafts,
    )
