"""AuditStore: an append-only record of who changed what (read by admins at /audit)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from app.store.tables import AuditLog, User


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: datetime
    user_name: str | None
    action: str
    target_type: str
    target_id: str
    detail: dict[str, Any]


class AuditStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    def record(
        self,
        action: str,
        *,
        now: datetime,
        user_id: int | None = None,
        target_type: str = "",
        target_id: object = "",
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.session.add(
            AuditLog(
                at=now,
                user_id=user_id,
                action=action,
                target_type=target_type,
                target_id=str(target_id)[:64],
                detail=detail or {},
            )
        )

    def recent(
        self,
        *,
        limit: int = 200,
        before_id: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditEntry]:
        """Newest first; ``actor`` is a user name, ``action`` an action or its group
        (``flag`` matches ``flag.create``, ``flag.resolve``, ...)."""
        stmt = (
            select(AuditLog, User.name)
            .outerjoin(User, User.id == AuditLog.user_id)
            .order_by(AuditLog.id.desc())
            .limit(limit)
        )
        if before_id is not None:
            stmt = stmt.where(AuditLog.id < before_id)
        if actor:
            stmt = stmt.where(User.name == actor)
        if action:
            stmt = stmt.where(
                or_(
                    AuditLog.action == action,
                    AuditLog.action.startswith(action + ".", autoescape=True),
                )
            )
        if since is not None:
            stmt = stmt.where(AuditLog.at >= since)
        if until is not None:
            stmt = stmt.where(AuditLog.at < until)
        return [
            AuditEntry(a.id, a.at, name, a.action, a.target_type, a.target_id, dict(a.detail))
            for a, name in self.session.execute(stmt)
        ]

    def actions(self, action: str) -> list[AuditEntry]:
        return [e for e in self.recent(limit=1000) if e.action == action]
