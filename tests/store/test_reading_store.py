"""Read state, visits, time zones and saved views in the store (both engines)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.core.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from app.core.timeline import TimelineFilter
from app.store import reading
from app.store.db import Database
from app.store.reading import READ_WINDOW, ReadingStore, check_time_zone
from app.store.saved_views import SavedViewStore
from app.store.users import UserStore
from tests.web.test_auth_kit import NOW, make_user, seed_article

LATER = NOW + timedelta(hours=1)


def test_read_state_marks_counts_and_marks_all_for_a_filter(db: Database) -> None:
    vera, ed = make_user(db, "vera", "viewer"), make_user(db, "ed", "editor")
    market = seed_article(db, "Amazon TikTok market one", themes=("market",))
    security = seed_article(db, "Amazon TikTok breach two", themes=("security",))
    old = seed_article(
        db, "Amazon TikTok long ago", minutes_ago=int(READ_WINDOW.total_seconds() // 60) + 120
    )
    with db.write() as session:
        store = ReadingStore(session)
        assert store.unread_count(vera, TimelineFilter(), now=LATER) == 2  # the old one is read
        assert store.mark_read(vera, [market, market, 999_999], now=LATER) == 1
        assert store.read_ids(vera, [market, security, old]) == {market}
        assert store.unread_count(vera, TimelineFilter(), now=LATER) == 1
        assert store.mark_all_read(vera, TimelineFilter(themes=("security",)), now=LATER) == 1
        assert store.mark_all_read(vera, TimelineFilter(), now=LATER) == 0  # idempotent
        assert store.unread_count(vera, TimelineFilter(), now=LATER) == 0
        assert store.unread_count(ed, TimelineFilter(), now=LATER) == 2  # per user
        store.mark_unread(vera, security)
        assert store.unread_count(vera, TimelineFilter(), now=LATER) == 1


def test_visits_give_the_horizon_of_new_articles_and_zones_are_checked(db: Database) -> None:
    vera = make_user(db, "vera", "viewer")
    with db.write() as session:
        store = ReadingStore(session)
        assert store.visit(vera, now=NOW).new_since is None  # first visit: nothing is new
        assert store.visit(vera, now=NOW + timedelta(minutes=10)).new_since is None
        later = store.visit(vera, now=NOW + timedelta(hours=5))
        assert later.new_since == NOW + timedelta(minutes=10)  # the previous visit's last view
        store.set_time_zone(vera, "Europe/Berlin")
        assert store.preferences(vera).time_zone == "Europe/Berlin"
        for bad in ("Mars/Olympus", "../../etc/passwd", "x" * 200):
            with pytest.raises(InvalidInput):
                store.set_time_zone(vera, bad)
        store.set_time_zone(vera, None)
        assert store.preferences(vera).time_zone is None


def test_zone_checks_read_the_time_zone_database_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every HTML page checks the visitor's zone cookie: the database of zones (~600
    files) is walked once per process, not once per page (unit test: a counting stand-in
    for ``available_timezones``)."""
    walks: list[int] = []

    def available() -> set[str]:
        walks.append(1)
        return {"UTC", "Europe/Berlin", "America/New_York"}

    monkeypatch.setattr(reading, "available_timezones", available)
    reading.zone_names.cache_clear()
    try:
        for _ in range(3):
            assert check_time_zone("Europe/Berlin") == "Europe/Berlin"
            for bad in ("", "Europe/Atlantis", "europe/berlin", "x" * 200):
                with pytest.raises(InvalidInput):
                    check_time_zone(bad)
        assert len(walks) == 1
    finally:
        reading.zone_names.cache_clear()  # the real names for the tests after this one


def test_saved_views_personal_and_shared(db: Database) -> None:
    make_user(db, "vera", "viewer")
    make_user(db, "ed", "editor")
    make_user(db, "eve", "editor")
    with db.write() as session:
        users = UserStore(session)
        vera, ed, eve = users.find("vera"), users.find("ed"), users.find("eve")
        views = SavedViewStore(session)
        mine = views.create(
            "Security DE", "?theme=security&lang=de&cursor=abc&x=1", by=vera, shared=False, now=NOW
        )
        assert mine.query == "theme=security&lang=de" and not mine.shared
        with pytest.raises(PermissionDenied):
            views.create("Team", "theme=market", by=vera, shared=True, now=NOW)
        team = views.create("Team market", "theme=market", by=ed, shared=True, now=NOW)
        with pytest.raises(Conflict):
            views.create("Team market", "", by=eve, shared=True, now=NOW)
        with pytest.raises(InvalidInput):
            views.create("  ", "", by=vera, shared=False, now=NOW)
        assert [v.name for v in views.visible_to(vera.id)] == ["Security DE", "Team market"]
        assert [v.name for v in views.visible_to(ed.id)] == ["Team market"]
        with pytest.raises(NotFound):
            views.get(mine.id, by=ed)  # personal views are private
        with pytest.raises(PermissionDenied):
            views.delete(team.id, by=vera)
        renamed = views.update(team.id, by=eve, now=LATER, name="Market (team)")
        assert renamed.name == "Market (team)" and renamed.updated_at == LATER
        views.delete(mine.id, by=vera)
        assert [v.name for v in views.visible_to(vera.id)] == ["Market (team)"]
