"""OverrideStore: an editor adds or removes themes and marks relevance, with who and when.

Each theme decision is a ``ThemeOverride`` row, which ``ArticleStore.apply_tags``
honours on every re-tag; an added theme also gets an ``article_theme`` row with
origin "editor" (the tagger's rows are replaced on re-tag, the editor's are not).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from app.core.errors import InvalidInput, NotFound
from app.core.timeline import THEME_BITS, THEMES
from app.store.tables import Article, ArticleTheme, ThemeOverride
from app.store.touch import touch_articles


@dataclass(frozen=True, slots=True)
class OverrideChange:
    add: tuple[str, ...] = ()
    remove: tuple[str, ...] = ()
    relevant: bool | None = None  # None leaves the relevance as it is

    def validate(self) -> None:
        for theme in (*self.add, *self.remove):
            if theme not in THEMES:
                raise InvalidInput(f"unknown theme {theme!r}", field="themes")
        if set(self.add) & set(self.remove):
            raise InvalidInput("a theme cannot be added and removed at once", field="themes")


class OverrideStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def apply(
        self, article_id: int, change: OverrideChange, *, user_id: int | None, now: datetime
    ) -> None:
        change.validate()
        article = self.session.get(Article, article_id)
        if article is None:
            raise NotFound(f"no article with id {article_id}")
        for theme in change.add:
            self._decide(article_id, theme, True, user_id, now)
            self._add_theme(article_id, theme)
        for theme in change.remove:
            self._decide(article_id, theme, False, user_id, now)
            self.session.execute(
                delete(ArticleTheme).where(
                    ArticleTheme.article_id == article_id, ArticleTheme.theme == theme
                )
            )
        self.session.flush()
        article.theme_mask = self._mask(article_id)
        if change.relevant is not None:
            article.relevant_override = change.relevant
            article.relevant_override_by = user_id
            article.relevant_override_at = now
            article.relevant = change.relevant
        self.session.flush()
        touch_articles(self.session, [article_id], now)

    def clear_relevance(self, article_id: int, *, now: datetime | None = None) -> None:
        """Back to the tagger's verdict."""
        article = self.session.get(Article, article_id)
        if article is None:
            raise NotFound(f"no article with id {article_id}")
        article.relevant_override = None
        article.relevant_override_by = None
        article.relevant_override_at = None
        article.relevant = article.tagger_relevant
        self.session.flush()
        touch_articles(self.session, [article_id], now or datetime.now(UTC))

    def decisions(self, article_id: int) -> dict[str, bool]:
        rows = self.session.execute(
            select(ThemeOverride.theme, ThemeOverride.present).where(
                ThemeOverride.article_id == article_id
            )
        )
        return {theme: present for theme, present in rows}

    def _decide(
        self, article_id: int, theme: str, present: bool, user_id: int | None, now: datetime
    ) -> None:
        row = self.session.get(ThemeOverride, (article_id, theme))
        if row is None:
            self.session.add(
                ThemeOverride(
                    article_id=article_id,
                    theme=theme,
                    present=present,
                    user_id=user_id,
                    created_at=now,
                )
            )
        else:
            row.present, row.user_id, row.created_at = present, user_id, now

    def _add_theme(self, article_id: int, theme: str) -> None:
        row = self.session.get(ArticleTheme, (article_id, theme))
        if row is None:
            self.session.add(
                ArticleTheme(
                    article_id=article_id, theme=theme, score=0.0, evidence=[], origin="editor"
                )
            )
        else:
            # A tagger row would be dropped on re-tag; the editor now owns this theme.
            row.origin = "editor"

    def _mask(self, article_id: int) -> int:
        themes: Sequence[str] = self.session.scalars(
            select(ArticleTheme.theme).where(ArticleTheme.article_id == article_id)
        ).all()
        return sum(THEME_BITS[t] for t in set(themes) if t in THEME_BITS)
