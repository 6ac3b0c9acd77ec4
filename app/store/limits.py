"""Failed attempts per key in a sliding window, counted in the database.

Every web worker (and every host) of one database shares the count, so the limit
is the same whether one process or ten serve the login form. Keys (account names,
client addresses) are stored hashed. The store counts and records; the policy (how
many, how long) is the caller's ``RateLimit``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from app.core.errors import RateLimited
from app.store.tables import RateLimitHit


@dataclass(frozen=True, slots=True)
class RateLimit:
    bucket: str  # what is limited: login-account, login-address, token
    limit: int  # failures allowed in the window
    window: timedelta


class RateLimitStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def check(self, rule: RateLimit, key: str, *, now: datetime) -> None:
        """Raise ``RateLimited`` (with the seconds until a slot frees) when ``key`` has
        used up its failures in the window."""
        count, oldest = self.session.execute(
            select(func.count(), func.min(RateLimitHit.at)).where(
                RateLimitHit.bucket == rule.bucket,
                RateLimitHit.key_hash == _hash(key),
                RateLimitHit.at > now - rule.window,
            )
        ).one()
        if count >= rule.limit:
            retry = max(1, math.ceil((oldest + rule.window - now).total_seconds()))
            raise RateLimited("too many failed attempts; try again later", retry_after=retry)

    def hit(self, rule: RateLimit, key: str, *, now: datetime) -> None:
        """Count one failure; the key's rows older than the window go at the same time."""
        key_hash = _hash(key)
        self.session.execute(
            delete(RateLimitHit).where(
                RateLimitHit.bucket == rule.bucket,
                RateLimitHit.key_hash == key_hash,
                RateLimitHit.at <= now - rule.window,
            )
        )
        self.session.add(RateLimitHit(bucket=rule.bucket, key_hash=key_hash, at=now))

    def prune(self, *, before: datetime) -> int:
        """Drop every row older than ``before`` (keys that never failed again)."""
        result = self.session.execute(delete(RateLimitHit).where(RateLimitHit.at < before))
        return int(getattr(result, "rowcount", 0) or 0)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
