"""SavedViewStore: named timeline filters, personal (``owner_id``) or the team's (null).

A view keeps the timeline's query string (``theme=security&lang=de``), so it opens as
``/?<query>`` and feeds ``/feed.atom?<query>``; the caller checks the string with the
timeline's own parser (``app.web.params.filter_from_query``) before saving, and the
store keeps only the filter's keys (never a cursor). Anyone signed in keeps personal
views; sharing with the team, and changing a team view, takes the editor role.
Alert rules (issue 17) will build on these rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import parse_qsl, urlencode

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from app.core.timeline import SELECTION_KEYS
from app.store.tables import SavedView
from app.store.users import UserView

MAX_NAME = 100
MAX_QUERY = 2000
MAX_VIEWS = 50  # per owner, and for the team
VIEW_KEYS = SELECTION_KEYS


@dataclass(frozen=True, slots=True)
class SavedViewInfo:
    id: int
    name: str
    owner_id: int | None
    query: str
    created_at: datetime
    updated_at: datetime

    @property
    def shared(self) -> bool:
        return self.owner_id is None


def normalise_query(query: str) -> str:
    """The query string with only the timeline filter's keys, empty values dropped."""
    if len(query) > MAX_QUERY:
        raise InvalidInput(f"a view's filter must be under {MAX_QUERY} characters", field="query")
    pairs = parse_qsl(query.lstrip("?"), keep_blank_values=False)
    return urlencode([(k, v) for k, v in pairs if k in VIEW_KEYS])


def _info(row: SavedView) -> SavedViewInfo:
    return SavedViewInfo(row.id, row.name, row.owner_id, row.query, row.created_at, row.updated_at)


class SavedViewStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def visible_to(self, user_id: int) -> list[SavedViewInfo]:
        """The user's own views, then the team's, each by name."""
        rows = self.session.scalars(
            select(SavedView)
            .where(or_(SavedView.owner_id == user_id, SavedView.owner_id.is_(None)))
            .order_by(SavedView.owner_id.is_(None), SavedView.name, SavedView.id)
        )
        return [_info(r) for r in rows]

    def team_views(self) -> list[SavedViewInfo]:
        rows = self.session.scalars(
            select(SavedView).where(SavedView.owner_id.is_(None)).order_by(SavedView.name)
        )
        return [_info(r) for r in rows]

    def get(self, view_id: int, *, by: UserView) -> SavedViewInfo:
        return _info(self._visible(view_id, by))

    def create(
        self, name: str, query: str, *, by: UserView, shared: bool, now: datetime
    ) -> SavedViewInfo:
        name = self._check_name(name)
        if shared and not by.has_role("editor"):
            raise PermissionDenied("sharing a view with the team takes the editor role")
        owner = None if shared else by.id
        owner_clause = (
            SavedView.owner_id.is_(None) if owner is None else SavedView.owner_id == owner
        )
        names = list(self.session.scalars(select(SavedView.name).where(owner_clause)))
        if name in names:
            raise Conflict(f"a view named {name!r} exists")
        if len(names) >= MAX_VIEWS:
            raise InvalidInput(f"at most {MAX_VIEWS} views each", field="name")
        row = SavedView(
            name=name, owner_id=owner, query=normalise_query(query), created_at=now, updated_at=now
        )
        self.session.add(row)
        self.session.flush()
        return _info(row)

    def update(
        self,
        view_id: int,
        *,
        by: UserView,
        now: datetime,
        name: str | None = None,
        query: str | None = None,
    ) -> SavedViewInfo:
        row = self._changeable(view_id, by)
        if name is not None:
            row.name = self._check_name(name)
        if query is not None:
            row.query = normalise_query(query)
        row.updated_at = now
        self.session.flush()
        return _info(row)

    def delete(self, view_id: int, *, by: UserView) -> SavedViewInfo:
        row = self._changeable(view_id, by)
        info = _info(row)
        self.session.delete(row)
        self.session.flush()
        return info

    def _check_name(self, name: str) -> str:
        name = " ".join(name.split())
        if not name or len(name) > MAX_NAME:
            raise InvalidInput(f"a view's name must have 1 to {MAX_NAME} characters", field="name")
        return name

    def _visible(self, view_id: int, by: UserView) -> SavedView:
        row = self.session.get(SavedView, view_id)
        if row is None or row.owner_id not in (None, by.id):
            raise NotFound(f"no saved view with id {view_id}")
        return row

    def _changeable(self, view_id: int, by: UserView) -> SavedView:
        row = self._visible(view_id, by)
        if row.owner_id is None and not by.has_role("editor"):
            raise PermissionDenied("changing a team view takes the editor role")
        return row
