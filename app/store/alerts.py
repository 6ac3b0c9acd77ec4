"""Alert rules, digest settings and the delivery outbox (issue 17).

``AlertRuleStore``: rules on a saved view, personal (``owner_id``) or the team's (null).
Anyone signed in manages their own rules (on their own views or the team's); team rules
take the editor role, like team views. ``OutboxStore``: the deliveries to make. Its
unique key (rule, channel, subject) is what makes a delivery happen at most once, with
any number of pollers and web workers: every insert is ``INSERT ... ON CONFLICT DO
NOTHING``. Claims are leases (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite's
single writer makes the conditional update enough). ``message_id`` (the e-mail's
Message-ID, the webhook's Idempotency-Key) is committed before a send, and status
``sending`` marks a send under way: after a crash, an e-mail caught there is not sent
again (status ``unknown``), a webhook is, with the same key.
The caller owns the session and commits; ``now`` is always a parameter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import ColumnElement, and_, case, delete, func, or_, select, true, update
from sqlalchemy.orm import Session

from app.core.errors import InvalidInput, NotFound, PermissionDenied
from app.core.sealing import seal, unseal
from app.store.db import insert_for
from app.store.tables import AlertRule, DigestSetting, Outbox, SavedView, UserPref
from app.store.users import UserView

KINDS = ("new", "spike")
BATCHES = ("now", "15m", "1h")
BATCH_SECONDS = {"now": 0, "15m": 15 * 60, "1h": 3600}
CHANNELS = ("email", "webhook")
LANGUAGES = ("en", "de")
FREQUENCIES = ("daily", "weekly")
MAX_RULES = 50  # per owner, and for the team
MAX_TARGET = 2000
MAX_SECRET = 200
MAX_FAILURES = 8  # consecutive failed deliveries before a rule is disabled
_EMAIL = re.compile(r"[^@\s<>,;\"]{1,64}@[A-Za-z0-9.-]{1,253}\.[A-Za-z]{2,63}")
_HHMM = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]")
STATUSES = ("pending", "sending", "sent", "failed", "unknown")


@dataclass(frozen=True, slots=True)
class AlertRuleInfo:
    id: int
    view_id: int
    view_name: str
    view_query: str
    owner_id: int | None
    kind: str
    batch: str
    spike_hours: int
    spike_factor: float
    spike_min_count: int
    quiet_start: str | None
    quiet_end: str | None
    time_zone: str | None
    daily_cap: int | None
    channel: str
    target: str
    has_secret: bool
    language: str | None
    enabled: bool
    disabled_reason: str | None
    consecutive_failures: int
    last_error: str | None
    last_failure_at: datetime | None
    last_sent_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @property
    def shared(self) -> bool:
        return self.owner_id is None


# Fields a caller may set on create and update (besides view, channel and target).
SETTABLE = (
    "kind",
    "batch",
    "spike_hours",
    "spike_factor",
    "spike_min_count",
    "quiet_start",
    "quiet_end",
    "time_zone",
    "daily_cap",
    "language",
)


def _info(rule: AlertRule, view: SavedView) -> AlertRuleInfo:
    return AlertRuleInfo(
        id=rule.id,
        view_id=rule.view_id,
        view_name=view.name,
        view_query=view.query,
        owner_id=rule.owner_id,
        kind=rule.kind,
        batch=rule.batch,
        spike_hours=rule.spike_hours,
        spike_factor=rule.spike_factor,
        spike_min_count=rule.spike_min_count,
        quiet_start=rule.quiet_start,
        quiet_end=rule.quiet_end,
        time_zone=rule.time_zone,
        daily_cap=rule.daily_cap,
        channel=rule.channel,
        target=rule.target,
        has_secret=rule.secret_sealed is not None,
        language=rule.language,
        enabled=rule.enabled,
        disabled_reason=rule.disabled_reason,
        consecutive_failures=rule.consecutive_failures,
        last_error=rule.last_error,
        last_failure_at=rule.last_failure_at,
        last_sent_at=rule.last_sent_at,
        created_at=rule.created_at,
        updated_at=rule.updated_at,
    )


def check_time_zone(name: str | None, field_name: str = "time_zone") -> str | None:
    if not name:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidInput(f"unknown time zone {name!r}", field=field_name) from exc
    return name


def check_hhmm(value: str | None, field_name: str) -> str | None:
    if not value:
        return None
    if not _HHMM.fullmatch(value):
        raise InvalidInput(f"{field_name} must be a time like 07:30", field=field_name)
    return value


def check_target(channel: str, target: str) -> str:
    target = target.strip()
    if channel not in CHANNELS:
        raise InvalidInput("channel must be 'email' or 'webhook'", field="channel")
    if not target or len(target) > MAX_TARGET:
        raise InvalidInput("an alert needs an address or URL", field="target")
    if channel == "email":
        if not _EMAIL.fullmatch(target):
            raise InvalidInput(f"{target!r} is not an e-mail address", field="target")
        return target
    parts = urlsplit(target)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("a webhook needs an http(s) URL", field="target")
    return target


def _check(values: dict[str, Any]) -> dict[str, Any]:
    """Validated copies of the settable fields given (unknown keys refused)."""
    unknown = set(values) - set(SETTABLE)
    if unknown:
        raise InvalidInput(f"unknown alert setting {sorted(unknown)[0]!r}")
    out = dict(values)
    if "kind" in out and out["kind"] not in KINDS:
        raise InvalidInput("kind must be 'new' or 'spike'", field="kind")
    if "batch" in out and out["batch"] not in BATCHES:
        raise InvalidInput("batch must be 'now', '15m' or '1h'", field="batch")
    if "spike_hours" in out and not 1 <= int(out["spike_hours"]) <= 168:
        raise InvalidInput("spike hours must be between 1 and 168", field="spike_hours")
    if "spike_factor" in out and not 1.0 <= float(out["spike_factor"]) <= 100.0:
        raise InvalidInput("spike factor must be between 1 and 100", field="spike_factor")
    if "spike_min_count" in out and not 1 <= int(out["spike_min_count"]) <= 100_000:
        raise InvalidInput("minimum count must be at least 1", field="spike_min_count")
    for key in ("quiet_start", "quiet_end"):
        if key in out:
            out[key] = check_hhmm(out[key], key)
    if "time_zone" in out:
        out["time_zone"] = check_time_zone(out["time_zone"])
    if out.get("daily_cap") is not None and not 1 <= int(out["daily_cap"]) <= 10_000:
        raise InvalidInput("the daily cap must be between 1 and 10000", field="daily_cap")
    if out.get("language") and out["language"] not in LANGUAGES:
        raise InvalidInput("language must be 'en' or 'de'", field="language")
    return out


class AlertRuleStore:
    """Alert rules. ``secret_key`` (the app's) seals webhook secrets; without one they
    cannot be set or read."""

    def __init__(self, session: Session, secret_key: str = "") -> None:
        self.session = session
        self.secret_key = secret_key

    # -- reading --------------------------------------------------------------------

    def list_for(self, user: UserView) -> list[AlertRuleInfo]:
        """The user's own rules, then the team's, by view name."""
        rows = self.session.execute(
            select(AlertRule, SavedView)
            .join(SavedView, SavedView.id == AlertRule.view_id)
            .where(or_(AlertRule.owner_id == user.id, AlertRule.owner_id.is_(None)))
            .order_by(AlertRule.owner_id.is_(None), SavedView.name, AlertRule.id)
        )
        return [_info(r, v) for r, v in rows]

    def all(self) -> list[AlertRuleInfo]:
        """Every rule (operators, the command line)."""
        rows = self.session.execute(
            select(AlertRule, SavedView)
            .join(SavedView, SavedView.id == AlertRule.view_id)
            .order_by(AlertRule.id)
        )
        return [_info(r, v) for r, v in rows]

    def for_view(self, view_id: int, *, by: UserView) -> list[AlertRuleInfo]:
        return [r for r in self.list_for(by) if r.view_id == view_id]

    def enabled(self, kind: str | None = None) -> list[AlertRuleInfo]:
        """Every enabled rule (the matcher and the spike check)."""
        stmt = (
            select(AlertRule, SavedView)
            .join(SavedView, SavedView.id == AlertRule.view_id)
            .where(AlertRule.enabled.is_(True))
            .order_by(AlertRule.id)
        )
        if kind:
            stmt = stmt.where(AlertRule.kind == kind)
        return [_info(r, v) for r, v in self.session.execute(stmt)]

    def get(self, rule_id: int, *, by: UserView | None = None) -> AlertRuleInfo:
        """A rule the user may see (``by`` None: any rule, for the engine and operators)."""
        rule = self._visible(rule_id, by)
        view = self.session.get(SavedView, rule.view_id)
        assert view is not None
        return _info(rule, view)

    def webhook_secret(self, rule_id: int) -> str | None:
        rule = self.session.get(AlertRule, rule_id)
        if rule is None or rule.secret_sealed is None:
            return None
        return unseal(rule.secret_sealed, self.secret_key)

    # -- writing --------------------------------------------------------------------

    def create(
        self,
        view_id: int,
        *,
        by: UserView,
        now: datetime,
        channel: str,
        target: str,
        shared: bool = False,
        secret: str | None = None,
        **settings: Any,
    ) -> AlertRuleInfo:
        """A rule on a view the user sees. ``shared``: a team rule (editors), on a team
        view only. ``settings``: any of ``SETTABLE``."""
        view = self.session.get(SavedView, view_id)
        if view is None or view.owner_id not in (None, by.id):
            raise NotFound(f"no saved view with id {view_id}")
        if shared:
            if not by.has_role("editor"):
                raise PermissionDenied("a team alert takes the editor role")
            if view.owner_id is not None:
                raise InvalidInput("a team alert needs a team view", field="view")
        elif by.disabled:
            raise PermissionDenied("this account is disabled")
        owner = None if shared else by.id
        owner_clause = (
            AlertRule.owner_id.is_(None) if owner is None else AlertRule.owner_id == owner
        )
        count = self.session.scalar(select(func.count()).select_from(AlertRule).where(owner_clause))
        if (count or 0) >= MAX_RULES:
            raise InvalidInput(f"at most {MAX_RULES} alerts each", field="view")
        values = _check(settings)
        rule = AlertRule(
            view_id=view.id,
            owner_id=owner,
            created_by=by.id if by.id > 0 else None,
            kind=values.pop("kind", "new"),
            batch=values.pop("batch", "now"),
            spike_hours=6,
            spike_factor=3.0,
            spike_min_count=5,
            channel=channel,
            target=check_target(channel, target),
            secret_sealed=self._seal(channel, secret),
            enabled=True,
            consecutive_failures=0,
            created_at=now,
            updated_at=now,
        )
        for key, value in values.items():
            setattr(rule, key, value)
        self.session.add(rule)
        self.session.flush()
        return _info(rule, view)

    def update(
        self,
        rule_id: int,
        *,
        by: UserView,
        now: datetime,
        channel: str | None = None,
        target: str | None = None,
        secret: str | None = None,
        enabled: bool | None = None,
        **settings: Any,
    ) -> AlertRuleInfo:
        """Change a rule. ``secret=""`` removes the secret; ``enabled=True`` re-enables a
        rule disabled after failures (and forgets them)."""
        rule = self._changeable(rule_id, by)
        values = _check(settings)
        if channel is not None or target is not None:
            new_channel = channel or rule.channel
            rule.target = check_target(new_channel, target if target is not None else rule.target)
            rule.channel = new_channel
            if new_channel != "webhook":
                rule.secret_sealed = None
        if secret is not None:
            rule.secret_sealed = self._seal(rule.channel, secret) if secret else None
        for key, value in values.items():
            setattr(rule, key, value)
        if "kind" in values:
            rule.spike_since = None
        if enabled is not None:
            rule.enabled = enabled
            if enabled:
                rule.disabled_reason = None
                rule.consecutive_failures = 0
            else:
                rule.disabled_reason = f"turned off by {by.name}"
        rule.updated_at = now
        self.session.flush()
        view = self.session.get(SavedView, rule.view_id)
        assert view is not None
        return _info(rule, view)

    def delete(self, rule_id: int, *, by: UserView) -> AlertRuleInfo:
        rule = self._changeable(rule_id, by)
        view = self.session.get(SavedView, rule.view_id)
        assert view is not None
        info = _info(rule, view)
        self.session.delete(rule)
        self.session.flush()
        return info

    # -- the engine's bookkeeping ---------------------------------------------------

    def record_success(self, rule_id: int, *, now: datetime) -> None:
        self.session.execute(
            update(AlertRule)
            .where(AlertRule.id == rule_id)
            .values(consecutive_failures=0, last_sent_at=now)
        )

    def record_failure(
        self, rule_id: int, error: str, *, now: datetime, max_failures: int = MAX_FAILURES
    ) -> bool:
        """Count a failed delivery; True when the rule is now disabled for it."""
        rule = self.session.get(AlertRule, rule_id)
        if rule is None:
            return False
        rule.consecutive_failures += 1
        rule.last_error = error[:2000]
        rule.last_failure_at = now
        if rule.enabled and rule.consecutive_failures >= max_failures:
            rule.enabled = False
            rule.disabled_reason = (
                f"disabled after {rule.consecutive_failures} failed deliveries in a row; "
                f"last error: {error[:500]}"
            )
        self.session.flush()
        return not rule.enabled

    def start_spike(self, rule_id: int, since: datetime) -> bool:
        """Mark a spike as under way; True for the one caller that started it."""
        result = self.session.execute(
            update(AlertRule)
            .where(AlertRule.id == rule_id, AlertRule.spike_since.is_(None))
            .values(spike_since=since)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def end_spike(self, rule_id: int) -> None:
        self.session.execute(
            update(AlertRule).where(AlertRule.id == rule_id).values(spike_since=None)
        )

    def spike_since(self, rule_id: int) -> datetime | None:
        return self.session.scalar(select(AlertRule.spike_since).where(AlertRule.id == rule_id))

    def owner_time_zone(self, rule: AlertRuleInfo) -> str:
        """The zone quiet hours and the daily cap are read in: the rule's, its owner's,
        else UTC."""
        if rule.time_zone:
            return rule.time_zone
        if rule.owner_id is not None:
            zone = self.session.scalar(
                select(UserPref.time_zone).where(UserPref.user_id == rule.owner_id)
            )
            if zone:
                return zone
        return "UTC"

    # -- helpers --------------------------------------------------------------------

    def _seal(self, channel: str, secret: str | None) -> str | None:
        if not secret:
            return None
        if channel != "webhook":
            raise InvalidInput("only webhooks take a secret", field="secret")
        if len(secret) > MAX_SECRET:
            raise InvalidInput(f"a secret must be under {MAX_SECRET} characters", field="secret")
        return seal(secret, self.secret_key)

    def _visible(self, rule_id: int, by: UserView | None) -> AlertRule:
        rule = self.session.get(AlertRule, rule_id)
        if rule is None or (by is not None and rule.owner_id not in (None, by.id)):
            raise NotFound(f"no alert with id {rule_id}")
        return rule

    def _changeable(self, rule_id: int, by: UserView) -> AlertRule:
        rule = self._visible(rule_id, by)
        if rule.owner_id is None and not by.has_role("editor"):
            raise PermissionDenied("changing a team alert takes the editor role")
        if rule.owner_id is not None and by.disabled:
            raise PermissionDenied("this account is disabled")
        return rule


# -- digests ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DigestInfo:
    user_id: int
    frequency: str  # daily | weekly
    local_time: str  # HH:MM
    weekday: int  # 0 Monday
    time_zone: str | None
    email: str
    language: str | None
    enabled: bool
    last_period: str | None


def _digest(row: DigestSetting) -> DigestInfo:
    return DigestInfo(
        row.user_id,
        row.frequency,
        row.local_time,
        row.weekday,
        row.time_zone,
        row.email,
        row.language,
        row.enabled,
        row.last_period,
    )


class DigestStore:
    """Each user's digest settings (one row per user)."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, user_id: int) -> DigestInfo | None:
        row = self.session.get(DigestSetting, user_id)
        return _digest(row) if row else None

    def put(
        self,
        user_id: int,
        *,
        now: datetime,
        email: str,
        frequency: str = "daily",
        local_time: str = "08:00",
        weekday: int = 0,
        time_zone: str | None = None,
        language: str | None = None,
        enabled: bool = True,
    ) -> DigestInfo:
        if frequency not in FREQUENCIES:
            raise InvalidInput("frequency must be 'daily' or 'weekly'", field="frequency")
        if not 0 <= weekday <= 6:
            raise InvalidInput("weekday must be 0 (Monday) to 6", field="weekday")
        if language and language not in LANGUAGES:
            raise InvalidInput("language must be 'en' or 'de'", field="language")
        hhmm = check_hhmm(local_time, "local_time") or "08:00"
        zone = check_time_zone(time_zone)
        address = check_target("email", email)
        row = self.session.get(DigestSetting, user_id)
        if row is None:
            row = DigestSetting(user_id=user_id, created_at=now)
            self.session.add(row)
        row.frequency, row.local_time, row.weekday = frequency, hhmm, weekday
        row.time_zone, row.email, row.language = zone, address, language
        row.enabled, row.updated_at = enabled, now
        self.session.flush()
        return _digest(row)

    def delete(self, user_id: int) -> None:
        row = self.session.get(DigestSetting, user_id)
        if row is not None:
            self.session.delete(row)
            self.session.flush()

    def enabled(self) -> list[DigestInfo]:
        rows = self.session.scalars(select(DigestSetting).where(DigestSetting.enabled.is_(True)))
        return [_digest(r) for r in rows]

    def user_time_zone(self, user_id: int) -> str:
        """The digest's zone, else the user's preference, else UTC."""
        row = self.session.get(DigestSetting, user_id)
        if row is not None and row.time_zone:
            return row.time_zone
        zone = self.session.scalar(select(UserPref.time_zone).where(UserPref.user_id == user_id))
        return zone or "UTC"

    def mark_period(self, user_id: int, period: str) -> None:
        self.session.execute(
            update(DigestSetting).where(DigestSetting.user_id == user_id).values(last_period=period)
        )


# -- the outbox --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A delivery to enqueue. Alerts: ``rule_id``; digests: ``user_id`` and no rule."""

    channel: str
    subject_key: str
    kind: str  # new | spike | digest | test
    rule_id: int | None = None
    user_id: int | None = None
    article_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    due: datetime | None = None  # default: now


@dataclass(frozen=True, slots=True)
class Delivery:
    """An outbox row as the runner and the owner's pages see it."""

    id: int
    rule_id: int | None
    user_id: int | None
    channel: str
    subject_key: str
    kind: str
    article_id: int | None
    payload: dict[str, Any]
    status: str
    attempts: int
    next_attempt_at: datetime
    message_id: str | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


def _delivery(row: Outbox) -> Delivery:
    return Delivery(
        row.id,
        row.rule_id,
        row.user_id,
        row.channel,
        row.subject_key,
        row.kind,
        row.article_id,
        dict(row.payload or {}),
        row.status,
        row.attempts,
        row.next_attempt_at,
        row.message_id,
        row.last_error,
        row.created_at,
        row.sent_at,
    )


def backoff(attempts: int, *, base: float = 30.0, cap: float = 3600.0) -> timedelta:
    """Wait before retry number ``attempts`` (1, 2, ...): 30 s, 1 min, 2 min, ... ≤ 1 h."""
    return timedelta(seconds=min(cap, base * 2 ** max(0, attempts - 1)))


class OutboxStore:
    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def dialect(self) -> str:
        return self.session.get_bind().dialect.name

    def enqueue(self, items: Iterable[OutboxItem], *, now: datetime) -> int:
        """Insert the deliveries not yet known (the unique key decides); how many were new."""
        rows = [
            {
                "rule_id": i.rule_id,
                "user_id": i.user_id,
                "channel": i.channel,
                "subject_key": i.subject_key[:64],
                "kind": i.kind,
                "article_id": i.article_id,
                "payload": i.payload,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": i.due or now,
                "created_at": now,
            }
            for i in items
        ]
        if not rows:
            return 0
        stmt = (
            insert_for(self.dialect)(Outbox)
            .values(rows)
            .on_conflict_do_nothing()
            .returning(Outbox.id)
        )
        return len(self.session.execute(stmt).all())

    def has_work(self, *, now: datetime, digests: bool = False) -> bool:
        """A cheap read first: anything due, or a send whose sender may have died?"""
        rule = Outbox.rule_id.is_(None) if digests else Outbox.rule_id.is_not(None)
        due = and_(Outbox.status == "pending", Outbox.next_attempt_at <= now)
        stale = and_(Outbox.status == "sending", Outbox.lease_until < now)
        found = self.session.scalar(select(Outbox.id).where(rule, or_(due, stale)).limit(1))
        return found is not None

    def prune(self, *, before: datetime) -> int:
        """Forget finished deliveries created before ``before`` (an article that old can
        no longer be enqueued as new, so its key is not needed to refuse a repeat)."""
        result = self.session.execute(
            delete(Outbox).where(
                Outbox.created_at < before, Outbox.status.in_(("sent", "failed", "unknown"))
            )
        )
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def claim_due(
        self,
        *,
        now: datetime,
        owner: str,
        lease: timedelta,
        limit: int = 100,
        digests: bool = False,
        ids: Sequence[int] | None = None,
    ) -> list[Delivery]:
        """Lease pending deliveries that are due; each goes to one claimant. Alerts
        (rule set) by default; ``digests=True``: the digests' rows (no rule) instead;
        ``ids``: only these (a test sent now)."""
        due = and_(
            Outbox.rule_id.is_(None) if digests else Outbox.rule_id.is_not(None),
            Outbox.id.in_(ids) if ids is not None else true(),
            Outbox.status == "pending",
            Outbox.next_attempt_at <= now,
            or_(Outbox.lease_until.is_(None), Outbox.lease_until < now),
        )
        pick = select(Outbox.id).where(due).order_by(Outbox.next_attempt_at, Outbox.id).limit(limit)
        cond: ColumnElement[bool]
        if self.dialect == "postgresql":
            ids = list(self.session.scalars(pick.with_for_update(skip_locked=True)))
            if not ids:
                return []
            cond = Outbox.id.in_(ids)
        else:
            cond = and_(Outbox.id.in_(pick.scalar_subquery()), due)
        claimed = list(
            self.session.scalars(
                update(Outbox)
                .where(cond)
                .values(lease_owner=owner[:64], lease_until=now + lease)
                .returning(Outbox.id)
            )
        )
        return self.get_many(claimed)

    def get_many(self, ids: Sequence[int]) -> list[Delivery]:
        if not ids:
            return []
        rows = self.session.scalars(select(Outbox).where(Outbox.id.in_(ids)).order_by(Outbox.id))
        return [_delivery(r) for r in rows]

    def set_message_id(self, ids: Sequence[int], message_id: str) -> None:
        """Record the Message-ID / Idempotency-Key (commit before sending)."""
        self.session.execute(update(Outbox).where(Outbox.id.in_(ids)).values(message_id=message_id))

    def mark_sending(self, ids: Sequence[int], *, now: datetime, lease: timedelta) -> None:
        """The send starts (commit before handing the message over)."""
        self.session.execute(
            update(Outbox)
            .where(Outbox.id.in_(ids))
            .values(
                status="sending",
                lease_until=now + lease,
                attempts=Outbox.attempts + 1,
                sent_at=now,
            )
        )

    def mark_sent(self, ids: Sequence[int], *, now: datetime) -> None:
        self.session.execute(
            update(Outbox)
            .where(Outbox.id.in_(ids))
            .values(status="sent", sent_at=now, lease_until=None, lease_owner=None, last_error=None)
        )

    def mark_failed(
        self, ids: Sequence[int], error: str, *, now: datetime, retry_at: datetime | None
    ) -> None:
        """A failed attempt: pending again at ``retry_at``, or given up (``failed``)."""
        self.session.execute(
            update(Outbox)
            .where(Outbox.id.in_(ids))
            .values(
                # an attempt that failed before the hand-over (no ``sending``) counts too
                attempts=case(
                    (Outbox.status == "pending", Outbox.attempts + 1), else_=Outbox.attempts
                ),
                status="pending" if retry_at else "failed",
                next_attempt_at=retry_at or now,
                last_error=error[:2000],
                lease_until=None,
                lease_owner=None,
            )
        )

    def postpone(self, ids: Sequence[int], until: datetime) -> None:
        """Not now (a batch window, quiet hours, the daily cap): due again at ``until``."""
        self.session.execute(
            update(Outbox)
            .where(Outbox.id.in_(ids))
            .values(next_attempt_at=until, lease_until=None, lease_owner=None)
        )

    def release(self, ids: Sequence[int]) -> None:
        self.session.execute(
            update(Outbox).where(Outbox.id.in_(ids)).values(lease_until=None, lease_owner=None)
        )

    def recover(self, *, now: datetime) -> tuple[int, int]:
        """Deliveries whose sender died mid-send (status ``sending``, lease over). E-mails
        become ``unknown`` (the server may have taken the message: not sent twice);
        webhooks are pending again with their Idempotency-Key. (unknown, retried)."""
        stale = and_(Outbox.status == "sending", Outbox.lease_until < now)
        lost = self.session.execute(
            update(Outbox)
            .where(stale, Outbox.channel == "email")
            .values(
                status="unknown",
                lease_until=None,
                lease_owner=None,
                last_error="the sender stopped while handing the e-mail over; not sent again "
                "so it cannot arrive twice",
            )
        ).rowcount  # type: ignore[attr-defined]
        again = self.session.execute(
            update(Outbox)
            .where(stale, Outbox.channel != "email")
            .values(status="pending", next_attempt_at=now, lease_until=None, lease_owner=None)
        ).rowcount  # type: ignore[attr-defined]
        return int(lost or 0), int(again or 0)

    def sent_messages_since(self, rule_id: int, since: datetime) -> int:
        """Messages (not articles) a rule handed over since ``since`` (the daily cap)."""
        count = self.session.scalar(
            select(func.count(func.distinct(Outbox.message_id))).where(
                Outbox.rule_id == rule_id,
                Outbox.status.in_(("sent", "sending", "unknown")),
                Outbox.sent_at >= since,
                Outbox.kind != "test",
            )
        )
        return int(count or 0)

    def pending_ids(self, rule_id: int) -> list[int]:
        return list(
            self.session.scalars(
                select(Outbox.id).where(Outbox.rule_id == rule_id, Outbox.status == "pending")
            )
        )

    def for_rule(self, rule_id: int, *, limit: int = 50) -> list[Delivery]:
        """A rule's latest deliveries, newest first."""
        rows = self.session.scalars(
            select(Outbox).where(Outbox.rule_id == rule_id).order_by(Outbox.id.desc()).limit(limit)
        )
        return [_delivery(r) for r in rows]

    def failures(self, rule_id: int, *, limit: int = 20) -> list[Delivery]:
        """A rule's deliveries with an error (given up, unknown, or waiting for a retry)."""
        rows = self.session.scalars(
            select(Outbox)
            .where(
                Outbox.rule_id == rule_id,
                or_(Outbox.status.in_(("failed", "unknown")), Outbox.last_error.is_not(None)),
            )
            .order_by(Outbox.id.desc())
            .limit(limit)
        )
        return [_delivery(r) for r in rows]

    def counts(self) -> dict[str, int]:
        rows = self.session.execute(select(Outbox.status, func.count()).group_by(Outbox.status))
        return {status: int(n) for status, n in rows}


def local_day_start(now: datetime, zone: str) -> datetime:
    """Midnight of ``now``'s day in ``zone``, as an aware datetime."""
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    return datetime.combine(local.date(), time(0), tzinfo=tz)
