"""UserStore: argon2id hashes, rehash, equal work for unknown users, sessions, tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from argon2 import PasswordHasher

from app.core.errors import Conflict, InvalidInput
from app.store.db import Database
from app.store.tables import User
from app.store.users import SESSION_IDLE, UserStore
from tests.web.test_auth_kit import FAST_HASHER, NOW


class SpyHasher(PasswordHasher):
    def __init__(self, **kwargs: int) -> None:
        super().__init__(**kwargs)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verified.append(str(hash))
        return super().verify(hash, password)


def test_hash_is_argon2id_and_rules(db: Database) -> None:
    with db.write() as session:
        store = UserStore(session, FAST_HASHER)
        user = store.create("ed", "long enough pw", "editor", now=NOW)
        row = session.get(User, user.id)
        assert row is not None and row.password_hash.startswith("$argon2id$")
        with pytest.raises(InvalidInput):
            store.create("short", "1234567", "viewer", now=NOW)
        with pytest.raises(InvalidInput):
            store.create("bad-role", "long enough pw", "root", now=NOW)
        with pytest.raises(Conflict):
            store.create("ed", "long enough pw", "viewer", now=NOW)
        # No truncation: a long password differs from its prefix.
        store.create("long", "x" * 100, "viewer", now=NOW)
        assert store.authenticate("long", "x" * 99) is None
        assert store.authenticate("long", "x" * 100) is not None


def test_unknown_user_costs_a_verification(db: Database) -> None:
    spy = SpyHasher(time_cost=1, memory_cost=1024, parallelism=1)
    with db.write() as session:
        assert UserStore(session, spy).authenticate("ghost", "whatever pw") is None
    assert len(spy.verified) == 1 and spy.verified[0].startswith("$argon2id$")


def test_rehash_when_parameters_change(db: Database) -> None:
    with db.write() as session:
        UserStore(session, FAST_HASHER).create("ed", "long enough pw", "editor", now=NOW)
    stronger = PasswordHasher(time_cost=2, memory_cost=2048, parallelism=1)
    with db.write() as session:
        assert UserStore(session, stronger).authenticate("ed", "long enough pw") is not None
    with db.read() as session:
        row = session.query(User).one()
        assert "t=2" in row.password_hash and "m=2048" in row.password_hash


def test_sessions_expire_slide_and_end_with_disable(db: Database) -> None:
    with db.write() as session:
        store = UserStore(session, FAST_HASHER)
        user = store.create("ed", "long enough pw", "editor", now=NOW)
        raw, info = store.start_session(user.id, now=NOW)
        assert store.resolve_session(raw, now=NOW + SESSION_IDLE - timedelta(seconds=1))
        assert store.resolve_session(raw, now=NOW + SESSION_IDLE) is None
        store.slide_session(info.id_hash, now=NOW + timedelta(days=3))
        assert store.resolve_session(raw, now=NOW + SESSION_IDLE + timedelta(days=1))
        store.set_disabled(user.id, True, now=NOW)
        assert store.resolve_session(raw, now=NOW) is None
        assert store.authenticate("ed", "long enough pw") is None


def test_tokens_hashed_scoped_revocable(db: Database) -> None:
    with db.write() as session:
        store = UserStore(session, FAST_HASHER)
        user = store.create("ed", "long enough pw", "editor", now=NOW)
        token, raw = store.create_token(user.id, "read", name="feeds", now=NOW)
        assert len(raw) >= 40 and raw not in {t.name for t in store.tokens()}
        found = store.resolve_token(raw, now=NOW)
        assert found is not None and found[1] == "read"
        store.revoke_token(token.id, now=NOW)
        assert store.resolve_token(raw, now=NOW) is None
        with pytest.raises(InvalidInput):
            store.create_token(user.id, "admin", now=NOW)
