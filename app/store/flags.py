"""FlagStore: editors' flags on articles (important, irrelevant, wrong-theme, follow-up).

An open "irrelevant" flag is a not-relevant override: it hides the article from the
default timeline. Resolving it means an editor confirmed it: the article stays hidden,
recorded as that editor's relevance decision. Dismissing it ("not irrelevant after
all") or deleting the last such flag restores the tagger's verdict, unless an editor
set the relevance explicitly since (``relevant_override_at`` then differs from the
flag's time, see ``OverrideStore``). Other kinds resolve without touching relevance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased, load_only

from app.core.errors import InvalidInput, NotFound, PermissionDenied
from app.core.timeline import FLAG_KINDS
from app.store.tables import Article, Flag, User
from app.store.touch import touch_articles
from app.store.users import UserView

MAX_NOTE = 2000


@dataclass(frozen=True, slots=True)
class FlagView:
    id: int
    article_id: int
    article_title: str
    kind: str
    note: str
    user_id: int | None
    user_name: str | None
    assignee_name: str | None
    created_at: datetime
    resolved_at: datetime | None
    resolved_by_name: str | None

    @property
    def open(self) -> bool:
        return self.resolved_at is None


@dataclass(frozen=True, slots=True)
class FlagQuery:
    """Filters of the editors' queue; ``assignee=""`` means unassigned."""

    kind: str | None = None
    status: str | None = None  # open | resolved | None for both
    assignee: str | None = None
    article_id: int | None = None
    after_id: int = 0
    limit: int = 50


class FlagStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def create(
        self, article_id: int, kind: str, note: str, *, user_id: int | None, now: datetime
    ) -> FlagView:
        if kind not in FLAG_KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(FLAG_KINDS)}", field="kind")
        if len(note) > MAX_NOTE:
            raise InvalidInput(f"note must have at most {MAX_NOTE} characters", field="note")
        article = self._article(article_id)
        flag = Flag(article_id=article_id, user_id=user_id, kind=kind, note=note, created_at=now)
        self.session.add(flag)
        if kind == "irrelevant":
            article.relevant_override = False
            article.relevant_override_by = user_id
            article.relevant_override_at = now
            article.relevant = False
        self.session.flush()
        touch_articles(self.session, [article_id], now)
        # Everything the view shows is at hand: no second, four-join query per new flag.
        user_name = None
        if user_id is not None:
            user_name = self.session.scalar(select(User.name).where(User.id == user_id))
        return FlagView(
            flag.id, article_id, article.title, kind, note, user_id, user_name,
            None, flag.created_at, None, None,
        )  # fmt: skip

    def assign(
        self, flag_id: int, assignee: str | None, *, now: datetime | None = None
    ) -> FlagView:
        flag = self._flag(flag_id)
        if assignee:
            user_id = self.session.scalar(select(User.id).where(User.name == assignee))
            if user_id is None:
                raise InvalidInput(f"no user named {assignee!r}", field="assignee")
            flag.assignee_id = user_id
        else:
            flag.assignee_id = None
        self.session.flush()
        touch_articles(self.session, [flag.article_id], now or datetime.now(UTC))
        return self.get(flag_id)

    def annotate(self, flag_id: int, note: str, *, now: datetime) -> FlagView:
        if len(note) > MAX_NOTE:
            raise InvalidInput(f"note must have at most {MAX_NOTE} characters", field="note")
        flag = self._flag(flag_id)
        flag.note = note
        self.session.flush()
        touch_articles(self.session, [flag.article_id], now)
        return self.get(flag_id)

    def reopen(self, flag_id: int, *, now: datetime) -> FlagView:
        """Open a resolved flag again; an "irrelevant" flag hides its article again."""
        flag = self._flag(flag_id)
        if flag.resolved_at is not None:
            flag.resolved_at = None
            flag.resolved_by = None
            if flag.kind == "irrelevant":
                article = self._article(flag.article_id)
                article.relevant_override = False
                article.relevant_override_by = flag.user_id
                # The flag's own time: dismissing it ("not irrelevant after all") restores
                # the tagger's verdict; resolving confirms it as the editor's decision.
                article.relevant_override_at = flag.created_at
                article.relevant = False
            self.session.flush()
            touch_articles(self.session, [flag.article_id], now)
        return self.get(flag_id)

    def resolve(self, flag_id: int, *, user_id: int | None, now: datetime) -> FlagView:
        """Close the flag as confirmed; an "irrelevant" flag's article stays hidden."""
        flag = self._flag(flag_id)
        if flag.resolved_at is None:
            flag.resolved_at = now
            flag.resolved_by = user_id
            article = self._article(flag.article_id)
            if flag.kind == "irrelevant" and article.relevant_override is False:
                # the editor's own decision now, so it outlives this flag
                article.relevant_override_by = user_id
                article.relevant_override_at = now
            self.session.flush()
            touch_articles(self.session, [flag.article_id], now)
        return self.get(flag_id)

    def dismiss(self, flag_id: int, *, user_id: int | None, now: datetime) -> FlagView:
        """Close the flag as mistaken: an "irrelevant" flag's article comes back."""
        flag = self._flag(flag_id)
        if flag.resolved_at is None:
            flag.resolved_at = now
            flag.resolved_by = user_id
            self.session.flush()
            self._restore_relevance(flag)
            touch_articles(self.session, [flag.article_id], now)
        return self.get(flag_id)

    def delete(self, flag_id: int, *, by: UserView, now: datetime | None = None) -> FlagView:
        """Only the flag's author or an admin may delete it (anyone may resolve it)."""
        flag = self._flag(flag_id)
        if flag.user_id != by.id and not by.has_role("admin"):
            raise PermissionDenied("only the flag's author or an admin may delete it")
        view = self.get(flag_id)
        self.session.delete(flag)
        self.session.flush()
        self._restore_relevance(flag)
        touch_articles(self.session, [flag.article_id], now or datetime.now(UTC))
        return view

    def _restore_relevance(self, flag: Flag) -> None:
        if flag.kind != "irrelevant":
            return
        article = self.session.get(Article, flag.article_id)
        if article is None or article.relevant_override is not False:
            return
        still_open = self.session.scalar(
            select(Flag.id).where(
                Flag.article_id == flag.article_id,
                Flag.kind == "irrelevant",
                Flag.resolved_at.is_(None),
            )
        )
        if still_open is None and article.relevant_override_at == flag.created_at:
            article.relevant_override = None
            article.relevant_override_by = None
            article.relevant_override_at = None
            article.relevant = article.tagger_relevant

    def get(self, flag_id: int) -> FlagView:
        views = self._views(select_flags().where(Flag.id == flag_id))
        if not views:
            raise NotFound(f"no flag with id {flag_id}")
        return views[0]

    def open_flags(self, *, limit: int = 500) -> list[FlagView]:
        stmt = select_flags().where(Flag.resolved_at.is_(None)).order_by(Flag.created_at, Flag.id)
        return self._views(stmt.limit(limit))

    def page(self, query: FlagQuery) -> tuple[list[FlagView], int | None]:
        """Flags matching ``query``, oldest first; and the id to continue after, if more."""
        stmt = select_flags().where(Flag.id > query.after_id)
        if query.kind:
            stmt = stmt.where(Flag.kind == query.kind)
        if query.status == "open":
            stmt = stmt.where(Flag.resolved_at.is_(None))
        elif query.status == "resolved":
            stmt = stmt.where(Flag.resolved_at.is_not(None))
        if query.assignee == "":
            stmt = stmt.where(Flag.assignee_id.is_(None))
        elif query.assignee is not None:
            named = select(_NAMED.id).where(_NAMED.name == query.assignee)
            stmt = stmt.where(Flag.assignee_id.in_(named))
        if query.article_id:
            stmt = stmt.where(Flag.article_id == query.article_id)
        views = self._views(stmt.order_by(Flag.id).limit(query.limit + 1))
        more = len(views) > query.limit
        views = views[: query.limit]
        return views, views[-1].id if more else None

    def history(self, article_id: int) -> list[FlagView]:
        self._article(article_id)
        return self._views(
            select_flags().where(Flag.article_id == article_id).order_by(Flag.created_at, Flag.id)
        )

    def _views(self, stmt: Select[Flag, str, str, str, str]) -> list[FlagView]:
        return [
            FlagView(
                f.id,
                f.article_id,
                title,
                f.kind,
                f.note,
                f.user_id,
                author,
                assignee,
                f.created_at,
                f.resolved_at,
                resolver,
            )
            for f, title, author, assignee, resolver in self.session.execute(stmt)
        ]

    def _flag(self, flag_id: int) -> Flag:
        flag = self.session.get(Flag, flag_id)
        if flag is None:
            raise NotFound(f"no flag with id {flag_id}")
        return flag

    def _article(self, article_id: int) -> Article:
        # the few columns a flag reads or sets; the wide ones (text, content, the tagger's
        # JSON) stay in the database, which an editor's write would hold meanwhile
        light = load_only(Article.id, Article.title, Article.relevant, Article.relevant_override)
        article = self.session.get(Article, article_id, options=[light])
        if article is None:
            raise NotFound(f"no article with id {article_id}")
        return article


# The user table under the names a flag's people have, made once: an alias builds a
# copy of every column of the table, and building three per call was ~10 % of the
# article page's time. (``_NAMED``: the assignee filter's own look-up.)
_AUTHOR = aliased(User, name="author")
_ASSIGNEE = aliased(User, name="assignee")
_RESOLVER = aliased(User, name="resolver")
_NAMED = aliased(User, name="named")


def select_flags() -> Select[Flag, str, str, str, str]:
    return (
        select(Flag, Article.title, _AUTHOR.name, _ASSIGNEE.name, _RESOLVER.name)
        .join(Article, Article.id == Flag.article_id)
        .outerjoin(_AUTHOR, _AUTHOR.id == Flag.user_id)
        .outerjoin(_ASSIGNEE, _ASSIGNEE.id == Flag.assignee_id)
        .outerjoin(_RESOLVER, _RESOLVER.id == Flag.resolved_by)
    )
