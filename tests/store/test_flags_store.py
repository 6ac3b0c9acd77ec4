"""Flags and editor overrides in the store: hiding, restoring, surviving re-tags."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from app.core.errors import InvalidInput, PermissionDenied
from app.core.timeline import THEME_BITS, TimelineFilter
from app.services.retag import retag_all
from app.store.articles import ArticleStore
from app.store.db import Database
from app.store.flags import FlagStore
from app.store.overrides import OverrideChange, OverrideStore
from app.store.tables import Article, ArticleTheme, ThemeOverride
from app.store.users import UserStore
from tests.web.test_auth_kit import NOW, make_user, seed_article, tags


def timeline_ids(db: Database) -> list[int]:
    with db.read() as session:
        return [a.id for a in ArticleStore(session).timeline(TimelineFilter()).items]


def test_irrelevant_flag_hides_until_dismissed_and_resolving_confirms_it(db: Database) -> None:
    editor = make_user(db, "ed", "editor")
    article = seed_article(db)
    assert timeline_ids(db) == [article]
    with db.write() as session:
        flag = FlagStore(session).create(article, "irrelevant", "sports", user_id=editor, now=NOW)
    assert timeline_ids(db) == []
    with db.read() as session:
        row = session.get(Article, article)
        assert (
            row is not None
            and row.relevant_override is False
            and row.relevant_override_by == editor
        )
    with db.write() as session:
        FlagStore(session).dismiss(flag.id, user_id=editor, now=NOW)
    assert timeline_ids(db) == [article]
    with db.write() as session:
        again = FlagStore(session).create(article, "irrelevant", "", user_id=editor, now=NOW)
        FlagStore(session).resolve(again.id, user_id=editor, now=NOW + timedelta(minutes=5))
    assert timeline_ids(db) == []  # confirmed: the editor's decision now
    with db.write() as session:
        FlagStore(session).delete(again.id, by=UserStore(session).get(editor))
    assert timeline_ids(db) == []  # and it outlives the flag


def test_explicit_override_outlives_the_flag(db: Database) -> None:
    editor = make_user(db, "ed", "editor")
    article = seed_article(db)
    with db.write() as session:
        flag = FlagStore(session).create(article, "irrelevant", "", user_id=editor, now=NOW)
    with db.write() as session:
        OverrideStore(session).apply(
            article, OverrideChange(relevant=False), user_id=editor, now=NOW + timedelta(minutes=1)
        )
        FlagStore(session).resolve(flag.id, user_id=editor, now=NOW)
    assert timeline_ids(db) == []


def test_delete_is_for_author_or_admin(db: Database) -> None:
    author, other = make_user(db, "ed", "editor"), make_user(db, "eve", "editor")
    make_user(db, "root", "admin")
    article = seed_article(db)
    with db.write() as session:
        store = FlagStore(session)
        flag = store.create(article, "important", "", user_id=author, now=NOW)
        users = UserStore(session)
        with pytest.raises(PermissionDenied):
            store.delete(flag.id, by=users.get(other))
        store.delete(flag.id, by=users.find("root"))
        assert store.history(article) == []


def test_bad_kind_and_assign(db: Database) -> None:
    editor = make_user(db, "ed", "editor")
    make_user(db, "eve", "editor")
    article = seed_article(db)
    with db.write() as session:
        store = FlagStore(session)
        with pytest.raises(InvalidInput):
            store.create(article, "spam", "", user_id=editor, now=NOW)
        flag = store.create(article, "follow-up", "call them", user_id=editor, now=NOW)
        assert store.assign(flag.id, "eve").assignee_name == "eve"
        assert [f.id for f in store.open_flags()] == [flag.id]


def test_overrides_survive_retagging(db: Database) -> None:
    editor = make_user(db, "ed", "editor")
    article = seed_article(db, themes=("market", "security"), relevant=True)
    change = OverrideChange(add=("regulatory",), remove=("security",), relevant=False)
    with db.write() as session:
        OverrideStore(session).apply(article, change, user_id=editor, now=NOW)

    def state() -> tuple[set[str], int, bool]:
        with db.read() as session:
            themes = set(
                session.scalars(
                    select(ArticleTheme.theme).where(ArticleTheme.article_id == article)
                )
            )
            row = session.get(Article, article)
            assert row is not None
            return themes, row.theme_mask, row.relevant

    expected = ({"market", "regulatory"}, THEME_BITS["market"] | THEME_BITS["regulatory"], False)
    assert state() == expected
    # The tagger says security again, and never says regulatory: the editor still wins.
    with db.write() as session:
        ArticleStore(session).apply_tags({article: tags("market", "security")}, now=NOW)
    assert state() == expected
    with db.read() as session:
        decided = session.scalars(
            select(ThemeOverride).where(ThemeOverride.article_id == article)
        ).all()
        assert {(d.theme, d.present, d.user_id) for d in decided} == {
            ("regulatory", True, editor),
            ("security", False, editor),
        }
    retag_all(db, batch=10, progress=False)  # the real re-tag command
    themes, mask, relevant = state()
    assert "regulatory" in themes and "security" not in themes and relevant is False
    assert mask & THEME_BITS["regulatory"] and not mask & THEME_BITS["security"]


def test_override_validation(db: Database) -> None:
    article = seed_article(db)
    with db.write() as session:
        with pytest.raises(InvalidInput):
            OverrideStore(session).apply(
                article, OverrideChange(add=("sports",)), user_id=None, now=NOW
            )
        with pytest.raises(InvalidInput):
            OverrideStore(session).apply(
                article, OverrideChange(add=("market",), remove=("market",)), user_id=None, now=NOW
            )
