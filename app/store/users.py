"""UserStore: accounts, argon2id passwords, server-side sessions and API tokens.

Secrets (session ids, API tokens) are random and high-entropy, so the tables keep
only their SHA-256: a leaked database gives no usable credential. Passwords use
argon2id; an unknown user name costs the same verification work as a known one.
The caller owns the session and commits; ``now`` is always a parameter.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from app.core.errors import Conflict, InvalidInput, NotFound
from app.store.tables import ApiToken, User, UserSession

ROLES = ("viewer", "editor", "admin")
SCOPES = ("read", "write")
MIN_PASSWORD = 8
MAX_PASSWORD = 1024  # long enough for passphrases, short enough to bound hashing work
SESSION_IDLE = timedelta(days=7)
SESSION_SLIDE_AFTER = timedelta(minutes=5)  # refresh expiry at most this often (fewer writes)
TOKEN_TOUCH_AFTER = timedelta(minutes=1)
TOKEN_PREFIX = "nm_"  # noqa: S105 - a marker for secret scanners, not a secret


def role_rank(role: str) -> int:
    return ROLES.index(role) if role in ROLES else -1


def sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@lru_cache(maxsize=8)
def _dummy_hash(hasher: PasswordHasher) -> str:
    return hasher.hash("not a real password, only work for unknown users")


@dataclass(frozen=True, slots=True)
class UserView:
    id: int
    name: str
    role: str
    disabled: bool = False

    def has_role(self, role: str) -> bool:
        return not self.disabled and role_rank(self.role) >= role_rank(role)


@dataclass(frozen=True, slots=True)
class TokenUse:
    """A live API token as a request sees it."""

    user: UserView
    scope: str
    needs_touch: bool  # its last use was recorded over a minute ago (or never)


@dataclass(frozen=True, slots=True)
class SessionInfo:
    user: UserView
    id_hash: str
    csrf_token: str


@dataclass(frozen=True, slots=True)
class TokenView:
    id: int
    user_id: int
    user_name: str
    name: str
    scope: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _user_view(user: User) -> UserView:
    return UserView(user.id, user.name, user.role, user.disabled_at is not None)


def check_password_rules(password: str) -> None:
    # Length only (no composition rules, no truncation): NIST 800-63B / ASVS 6.2.
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"password must have at least {MIN_PASSWORD} characters", field="password"
        )
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(
            f"password must have at most {MAX_PASSWORD} characters", field="password"
        )


class UserStore:
    def __init__(self, session: Session, hasher: PasswordHasher | None = None) -> None:
        self.session = session
        self.hasher = hasher or PasswordHasher()

    # -- accounts -------------------------------------------------------------

    def create(self, name: str, password: str, role: str, *, now: datetime) -> UserView:
        name = name.strip()
        if not name or len(name) > 64:
            raise InvalidInput("user name must have 1 to 64 characters", field="name")
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
        check_password_rules(password)
        if self.session.scalar(select(User.id).where(User.name == name)) is not None:
            raise Conflict(f"user {name!r} exists")
        user = User(name=name, password_hash=self.hasher.hash(password), role=role, created_at=now)
        self.session.add(user)
        self.session.flush()
        return _user_view(user)

    def get(self, user_id: int) -> UserView:
        user = self.session.get(User, user_id)
        if user is None:
            raise NotFound(f"no user with id {user_id}")
        return _user_view(user)

    def find(self, name: str) -> UserView:
        user = self.session.scalar(select(User).where(User.name == name))
        if user is None:
            raise NotFound(f"no user named {name!r}")
        return _user_view(user)

    def all(self) -> list[UserView]:
        return [_user_view(u) for u in self.session.scalars(select(User).order_by(User.name))]

    def authenticate(self, name: str, password: str) -> UserView | None:
        """The user if the password matches; unknown names do the same argon2 work."""
        user = self.session.scalar(select(User).where(User.name == name))
        if user is None or user.disabled_at is not None:
            self._verify(_dummy_hash(self.hasher), password)
            return None
        if not self._verify(user.password_hash, password):
            return None
        if self.hasher.check_needs_rehash(user.password_hash):
            user.password_hash = self.hasher.hash(password)
        return _user_view(user)

    def _verify(self, stored: str, password: str) -> bool:
        if len(password) > MAX_PASSWORD:
            return False
        try:
            return self.hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def change_password(self, user_id: int, old: str, new: str, *, now: datetime) -> None:
        """Set a new password and end every session of the user (the caller logs in anew)."""
        user = self.session.get(User, user_id)
        if user is None or not self._verify(user.password_hash, old):
            raise InvalidInput("the current password is wrong", field="old_password")
        check_password_rules(new)
        user.password_hash = self.hasher.hash(new)
        user.password_changed_at = now
        self.revoke_sessions(user_id)

    def set_role(self, user_id: int, role: str) -> UserView:
        """Change the role only; refuses to demote the last active admin."""
        if role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}", field="role")
        user = self._user(user_id)
        if user.role == "admin" and role != "admin":
            self._keep_an_admin(user, "demote")
        user.role = role
        self.session.flush()
        return _user_view(user)

    def set_disabled(self, user_id: int, disabled: bool, *, now: datetime) -> UserView:
        """Disable (ending the user's sessions and tokens) or enable again; refuses to
        disable the last active admin."""
        user = self._user(user_id)
        if disabled and user.disabled_at is None:
            if user.role == "admin":
                self._keep_an_admin(user, "disable")
            user.disabled_at = now
            self.revoke_sessions(user_id)
            self.session.execute(
                update(ApiToken)
                .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        elif not disabled:
            user.disabled_at = None
        self.session.flush()
        return _user_view(user)

    def reset_password(self, user_id: int, new: str, *, now: datetime) -> UserView:
        """An administrator's reset: a new password, every session ended."""
        check_password_rules(new)
        user = self._user(user_id)
        user.password_hash = self.hasher.hash(new)
        user.password_changed_at = now
        self.revoke_sessions(user_id)
        self.session.flush()
        return _user_view(user)

    def _keep_an_admin(self, user: User, action: str) -> None:
        """Refuse when ``user`` is the only active admin. The admins' rows are locked
        (FOR UPDATE on PostgreSQL), so two admins demoting each other at once cannot
        both succeed."""
        others = self.session.scalars(
            select(User.id)
            .where(User.role == "admin", User.disabled_at.is_(None), User.id != user.id)
            .with_for_update()
        ).all()
        if not others and user.disabled_at is None:
            raise Conflict(f"cannot {action} {user.name!r}: the last active admin")

    def _user(self, user_id: int) -> User:
        user = self.session.get(User, user_id)
        if user is None:
            raise NotFound(f"no user with id {user_id}")
        return user

    # -- sessions -------------------------------------------------------------

    def start_session(self, user_id: int, *, now: datetime) -> tuple[str, SessionInfo]:
        """A new session: the raw id for the cookie, and what the server keeps."""
        raw = secrets.token_urlsafe(32)  # 256 bits
        row = UserSession(
            id_hash=sha256(raw),
            user_id=user_id,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_seen_at=now,
            expires_at=now + SESSION_IDLE,
        )
        self.session.add(row)
        self.session.flush()
        return raw, SessionInfo(self.get(user_id), row.id_hash, row.csrf_token)

    def resolve_session(self, raw: str, *, now: datetime) -> SessionInfo | None:
        found = self.session.execute(
            select(UserSession, User)
            .join(User, User.id == UserSession.user_id)
            .where(UserSession.id_hash == sha256(raw))
        ).first()
        if found is None:
            return None
        row, user = found
        if row.expires_at <= now or user.disabled_at is not None:
            return None
        return SessionInfo(_user_view(user), row.id_hash, row.csrf_token)

    def needs_slide(self, id_hash: str, *, now: datetime) -> bool:
        last = self.session.scalar(
            select(UserSession.last_seen_at).where(UserSession.id_hash == id_hash)
        )
        return last is not None and now - last > SESSION_SLIDE_AFTER

    def slide_session(self, id_hash: str, *, now: datetime) -> None:
        """Sliding expiry: an active session stays alive, an idle one ends."""
        self.session.execute(
            update(UserSession)
            .where(UserSession.id_hash == id_hash)
            .values(last_seen_at=now, expires_at=now + SESSION_IDLE)
        )

    def end_session(self, id_hash: str) -> None:
        self.session.execute(delete(UserSession).where(UserSession.id_hash == id_hash))

    def revoke_sessions(self, user_id: int) -> None:
        self.session.execute(delete(UserSession).where(UserSession.user_id == user_id))

    # -- API tokens -----------------------------------------------------------

    def create_token(
        self, user_id: int, scope: str, *, name: str = "", now: datetime
    ) -> tuple[TokenView, str]:
        """A new token; the raw value is returned once and never stored."""
        if scope not in SCOPES:
            raise InvalidInput("scope must be 'read' or 'write'", field="scope")
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)  # 256 bits
        row = ApiToken(
            user_id=user_id, name=name[:100], token_hash=sha256(raw), scope=scope, created_at=now
        )
        self.session.add(row)
        self.session.flush()
        return self._token_view(row), raw

    def resolve_token(self, raw: str, *, now: datetime) -> tuple[UserView, str] | None:
        """(user, scope) for a live token."""
        found = self.token_use(raw, now=now)
        return None if found is None else (found.user, found.scope)

    def token_use(self, raw: str, *, now: datetime) -> TokenUse | None:
        """A live token's user and scope, and whether its last use should be recorded
        (at most once a minute): one indexed query, columns only (every API request
        asks)."""
        row = self.session.execute(
            select(
                User.id,
                User.name,
                User.role,
                User.disabled_at,
                ApiToken.scope,
                ApiToken.revoked_at,
                ApiToken.last_used_at,
            )
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == sha256(raw))
        ).first()
        if row is None or row.revoked_at is not None or row.disabled_at is not None:
            return None
        user = UserView(row.id, row.name, row.role, False)
        last = row.last_used_at
        return TokenUse(user, row.scope, last is None or now - last > TOKEN_TOUCH_AFTER)

    def touch_token(self, raw: str, *, now: datetime) -> None:
        self.session.execute(
            update(ApiToken).where(ApiToken.token_hash == sha256(raw)).values(last_used_at=now)
        )

    def tokens(self, user_id: int | None = None) -> list[TokenView]:
        stmt = select(ApiToken).order_by(ApiToken.id)
        if user_id is not None:
            stmt = stmt.where(ApiToken.user_id == user_id)
        return [self._token_view(t) for t in self.session.scalars(stmt)]

    def revoke_token(self, token_id: int, *, now: datetime, owner_id: int | None = None) -> None:
        """Revoke; with ``owner_id`` only that user's token (no revoking others' by id)."""
        token = self.session.get(ApiToken, token_id)
        if token is None or (owner_id is not None and token.user_id != owner_id):
            raise NotFound(f"no token with id {token_id}")
        if token.revoked_at is None:
            token.revoked_at = now

    def _token_view(self, t: ApiToken) -> TokenView:
        user_name = self.session.scalar(select(User.name).where(User.id == t.user_id)) or ""
        return TokenView(
            t.id, t.user_id, user_name, t.name, t.scope, t.created_at, t.last_used_at, t.revoked_at
        )
