"""Digest e-mails: daily or weekly, per user, at their chosen local time.

``send_due(session_factory, settings, now)`` (the runner calls it on each round)
finds the users whose digest time has come, writes one outbox row per user and
period (key ``d:<period>``; the unique index makes it once, with any number of
pollers), builds the message and sends it. Per saved view the user sees (their
own, then the team's): the top articles of the period (by relevance score, then
number of sources), the count per theme against the previous period, and the
volume as a PNG bar chart embedded inline (``cid:``, multipart/related), since
mail clients show neither SVG nor remote images by default.

Periods: a daily digest at 08:00 covers the 24 hours before 08:00 local time; a
weekly one the 7 days before. Local time comes from ``zoneinfo``, so a day across
a daylight-saving change is 23 or 25 hours and the digest still goes at 08:00. A
period is only sent while it is fresh (``GRACE``): a poller that was down for a
day does not mail yesterday's digest next to today's; a newly configured digest
starts with the next due time.

The runner calls it in a worker thread, at most every 30 s, from every poller
process (blocking calls are fine); the outbox's unique key keeps a digest single.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from email.utils import format_datetime as rfc2822_date
from email.utils import make_msgid
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.orm import Session

from app.alerts import png, text
from app.alerts.mail import (
    ArticleLine,
    add_common_headers,
    alert_article,
    article_line,
    environment,
    sender_of,
)
from app.alerts.match import filter_from_query
from app.alerts.unsubscribe import unsubscribe_url
from app.config import Settings
from app.core.errors import InvalidInput
from app.core.timeline import THEME_BITS, THEMES, UNTHEMED, TimelineFilter
from app.store.alerts import DigestInfo, DigestStore, OutboxItem, OutboxStore, backoff
from app.store.articles import ArticleStore
from app.store.db import Database
from app.store.saved_views import SavedViewStore
from app.store.tables import Article, ArticleSource, Outbox

TOP = 5  # articles per view
MAX_VIEWS = 20  # views per digest
GRACE = {"daily": timedelta(hours=12), "weekly": timedelta(days=2)}
FIRST_GRACE = timedelta(hours=1)  # a digest never sent: only a period that just began


# -- periods ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    frequency: str
    at: datetime  # when it is due (aware, UTC)
    start: datetime  # the period covered: [start, at)
    previous_start: datetime  # the one before: [previous_start, start)
    local_day: date  # the local date it is due on

    @property
    def key(self) -> str:
        return f"{self.frequency}:{self.local_day.isoformat()}"


def _local(day: date, clock: time, tz: ZoneInfo) -> datetime:
    # fold=0: an ambiguous time (the autumn change) is its first occurrence; a time that
    # does not exist (the spring change) comes out shifted by the offset, as zoneinfo does.
    return datetime.combine(day, clock, tzinfo=tz).astimezone(UTC)


def latest_period(
    frequency: str, local_time: str, weekday: int, zone: str, now: datetime
) -> Period:
    """The most recent due time at or before ``now``, and what it covers."""
    tz = text.zone(zone)
    hour, minute = (int(p) for p in local_time.split(":"))
    clock = time(hour, minute)
    today = now.astimezone(tz).date()
    step = 7 if frequency == "weekly" else 1
    day = today
    if frequency == "weekly":
        day = today - timedelta(days=(today.weekday() - weekday) % 7)
    if _local(day, clock, tz) > now:
        day -= timedelta(days=step)
    at = _local(day, clock, tz)
    start = _local(day - timedelta(days=step), clock, tz)
    previous = _local(day - timedelta(days=2 * step), clock, tz)
    return Period(frequency, at, start, previous, day)


def due_period(
    frequency: str,
    local_time: str,
    weekday: int,
    zone: str,
    last_period: str | None,
    now: datetime,
) -> Period | None:
    """The period to send now, or None (not yet due, already sent, or gone stale)."""
    period = latest_period(frequency, local_time, weekday, zone, now)
    if period.key == last_period:
        return None
    grace = GRACE.get(frequency, GRACE["daily"]) if last_period else FIRST_GRACE
    return period if now - period.at <= grace else None


def view_filter(query: str) -> TimelineFilter | None:
    """A saved view's filter (the matcher's parser), None when it no longer parses; its
    own time keys are left out, the digest has its period."""
    try:
        return replace(filter_from_query(query), since=None, until=None)
    except InvalidInput:
        return None


# -- the content ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThemeCount:
    key: str
    name: str
    now: int
    before: int
    change: str


@dataclass(frozen=True, slots=True)
class ViewDigest:
    view_id: int
    name: str
    total: int
    previous_total: int
    top: tuple[ArticleLine, ...]
    themes: tuple[ThemeCount, ...]
    volume: tuple[int, ...]
    previous_volume: tuple[int, ...]
    chart: bytes
    chart_cid: str
    chart_alt: str


def _buckets(period: Period) -> tuple[list[datetime], timedelta]:
    """Hourly bars for a daily digest, daily bars for a weekly one."""
    width = timedelta(hours=1) if period.frequency == "daily" else timedelta(days=1)
    edges, at = [], period.start
    while at < period.at:
        edges.append(at)
        at += width
    return edges, width


def summarise_view(
    session: Session,
    view_id: int,
    name: str,
    query: str,
    period: Period,
    *,
    base: str,
    locale: str,
    tz: ZoneInfo,
) -> ViewDigest | None:
    flt = view_filter(query)
    if flt is None:
        return None
    store = ArticleStore(session)
    wanted: Select[Any] = select(Article.published_at, Article.theme_mask)  # type: ignore[assignment]
    rows = session.execute(
        store.filtered(
            wanted.where(
                Article.published_at >= period.previous_start, Article.published_at < period.at
            ),
            flt,
        ).limit(50_000)
    ).all()
    edges, width = _buckets(period)
    volume, previous = [0] * len(edges), [0] * len(edges)
    counts: dict[str, list[int]] = {key: [0, 0] for key in (*THEMES, UNTHEMED)}
    total = [0, 0]
    span = period.at - period.start
    for published, mask in rows:
        current = published >= period.start
        slot = 0 if current else 1
        total[slot] += 1
        for key, bit in THEME_BITS.items():
            if mask & bit:
                counts[key][slot] += 1
        if not mask:
            counts[UNTHEMED][slot] += 1
        offset = published - (period.start if current else period.start - span)
        index = min(len(edges) - 1, max(0, int(offset / width)))
        if edges:
            (volume if current else previous)[index] += 1
    sources = (
        select(func.count())
        .select_from(ArticleSource)
        .where(ArticleSource.article_id == Article.id)
        .scalar_subquery()
    )
    top_rows = list(
        session.scalars(
            store.filtered(
                select(Article).where(
                    Article.published_at >= period.start, Article.published_at < period.at
                ),
                flt,
            )
            .order_by(
                Article.relevance_score.desc(),
                sources.desc(),
                Article.published_at.desc(),
                Article.id.desc(),
            )
            .limit(TOP)
        )
    )
    top = tuple(article_line(alert_article(a, base), locale, tz) for a in store.to_values(top_rows))
    themes = tuple(
        ThemeCount(
            key,
            text.translate(locale, key),
            counts[key][0],
            counts[key][1],
            text.format_change(counts[key][0], counts[key][1], locale),
        )
        for key in (*THEMES, UNTHEMED)
        if counts[key][0] or counts[key][1]
    )
    cid = make_msgid(idstring=f"volume{view_id}", domain="newsmon.invalid")
    alt = text.translate(
        locale,
        "Articles per hour in “{view}”: {values}"
        if period.frequency == "daily"
        else "Articles per day in “{view}”: {values}",
        view=name,
        values=", ".join(text.format_number(v, locale) for v in volume),
    )
    return ViewDigest(
        view_id,
        name,
        total[0],
        total[1],
        top,
        themes,
        tuple(volume),
        tuple(previous),
        png.bar_chart(volume, previous=previous),
        cid,
        alt,
    )


@dataclass(frozen=True, slots=True)
class DigestRecipient:
    user_id: int
    address: str
    locale: str
    time_zone: str


def build_digest_message(
    recipient: DigestRecipient,
    period: Period,
    views: Sequence[ViewDigest],
    *,
    sender: str,
    base_url: str,
    secret_key: str,
    message_id: str | None = None,
) -> EmailMessage:
    locale = text.pick_locale(recipient.locale)
    tz = text.zone(recipient.time_zone)
    base = base_url.rstrip("/")
    t = text.translate
    local_day = text.format_date(period.local_day, locale)
    title = t(locale, "Your daily digest" if period.frequency == "daily" else "Your weekly digest")
    subject_text = (
        "[newsmon] Your daily digest, {date}"
        if period.frequency == "daily"
        else "[newsmon] Your weekly digest, {date}"
    )
    subject = t(locale, subject_text, date=local_day)
    unsubscribe = unsubscribe_url(base, secret_key, "digest", recipient.user_id, recipient.address)
    context = {
        "_": lambda message, **values: t(locale, message, **values),
        "locale": locale,
        "title": title,
        "subject": subject,
        "range": t(
            locale,
            "From {start} to {end}.",
            start=text.format_datetime(period.start, locale, tz),
            end=text.format_datetime(period.at, locale, tz),
        ),
        "views": views,
        "base": base,
        "n": lambda value: text.format_number(value, locale),
        "settings_url": f"{base}/account#digest",
        "unsubscribe_url": unsubscribe,
    }
    env = environment()
    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = recipient.address
    message["Date"] = rfc2822_date(period.at)
    message["Message-ID"] = message_id or make_msgid(domain="newsmon.invalid")
    message.set_content(env.get_template("digest.txt").render(context))
    message.add_alternative(env.get_template("digest.html").render(context), subtype="html")
    html_part = message.get_payload()[1]  # type: ignore[index]
    assert isinstance(html_part, EmailMessage)
    for view in views:
        html_part.add_related(
            view.chart,
            "image",
            "png",
            cid=view.chart_cid,
            filename=f"volume-{view.view_id}.png",
            disposition="inline",
        )
    add_common_headers(message, locale, unsubscribe, auto_submitted=True)
    return message


# -- sending ----------------------------------------------------------------------------

log = logging.getLogger("newsmon.alerts.digest")
LEASE = timedelta(minutes=10)
LEASE_OWNER = "digest"
RETRY_OWNER = "digest-retry"
NEVER = datetime(9999, 1, 1, tzinfo=UTC)  # next_attempt_at of digest rows: the runner's "due"
MAX_ATTEMPTS = 6  # then the period's digest is given up (status failed, error shown)


def send_due(
    session_factory: Database,
    settings: Settings,
    now: datetime,
    enabled: Sequence[DigestInfo] | None = None,
) -> int:
    """Send every digest due at ``now`` (and retry those that failed for a passing
    reason); how many were sent. One user's failure is logged and recorded on its
    outbox row (shown on /account), never raised. ``enabled``: the enabled digests when
    the caller has read them already (``DigestStore.enabled``)."""
    if enabled is None:
        with session_factory.read() as session:
            enabled = DigestStore(session).enabled()
    digests = {d.user_id: d for d in enabled}
    sent = 0
    for digest in digests.values():
        try:
            sent += _send_new(session_factory, settings, digest, now)
        except Exception:  # one user's broken view or address must not stop the others
            log.exception("digest for user %s failed", digest.user_id)
    for row_id, user_id, period_key in _retries_due(session_factory, now):
        if user_id in digests:
            try:
                sent += _send(session_factory, settings, digests[user_id], row_id, period_key, now)
            except Exception:
                log.exception("digest retry for user %s failed", user_id)
    return sent


def _zone(db: Database, digest: DigestInfo) -> str:
    with db.read() as session:
        return digest.time_zone or DigestStore(session).user_time_zone(digest.user_id)


def _send_new(db: Database, settings: Settings, digest: DigestInfo, now: datetime) -> int:
    period = due_period(
        digest.frequency,
        digest.local_time,
        digest.weekday,
        _zone(db, digest),
        digest.last_period,
        now,
    )
    if period is None:
        return 0
    key = f"d:{period.key}"
    # One transaction: the row (its unique key picks one sender among all pollers and
    # web workers) with our lease on it, and the period marked as done.
    with db.write() as session:
        outbox = OutboxStore(session)
        item = OutboxItem(
            channel="email",
            subject_key=key,
            kind="digest",
            user_id=digest.user_id,
            payload={"period": period.key},
        )
        created = outbox.enqueue([item], now=now)
        DigestStore(session).mark_period(digest.user_id, period.key)
        if not created:
            return 0
        row_id = session.scalar(
            select(Outbox.id).where(
                Outbox.user_id == digest.user_id,
                Outbox.rule_id.is_(None),
                Outbox.channel == "email",
                Outbox.subject_key == key,
            )
        )
        assert row_id is not None
        # Ours: a lease, and never due for the alert runner (it claims due pending rows
        # and knows only rules). Killed before the hand-over, the row is taken up again
        # by ``_retries_due`` once the lease is over.
        session.execute(
            update(Outbox)
            .where(Outbox.id == row_id)
            .values(lease_owner=LEASE_OWNER, lease_until=now + LEASE, next_attempt_at=NEVER)
        )
    return _send(db, settings, digest, row_id, period.key, now)


def _retries_due(db: Database, now: datetime) -> list[tuple[int, int, str]]:
    """Digest rows waiting for another attempt, each claimed for us (a lease).

    A digest that failed for a passing reason stays ``failed`` (the alert runner claims
    ``pending`` rows and knows only rules), marked for a retry by its lease owner
    ``digest-retry`` and due at ``lease_until``; a row whose sender was killed before
    the hand-over is ``pending`` with an expired lease, and goes again too."""
    due = and_(
        Outbox.kind == "digest",
        Outbox.rule_id.is_(None),
        or_(
            and_(Outbox.status == "failed", Outbox.lease_owner == RETRY_OWNER),
            and_(Outbox.status == "pending", Outbox.lease_owner == LEASE_OWNER),
        ),
        Outbox.lease_until <= now,
    )
    claimed = []
    with db.write() as session:
        for row_id in list(session.scalars(select(Outbox.id).where(due).limit(100))):
            taken = session.execute(
                update(Outbox)
                .where(Outbox.id == row_id, due)
                .values(lease_owner=LEASE_OWNER, lease_until=now + LEASE)
                .returning(Outbox.user_id, Outbox.subject_key)
            ).first()
            if taken is not None and taken[0] is not None:
                claimed.append((row_id, int(taken[0]), str(taken[1]).removeprefix("d:")))
    return claimed


def _send(
    db: Database,
    settings: Settings,
    digest: DigestInfo,
    row_id: int,
    period_key: str,
    now: datetime,
) -> int:
    """Build and send one claimed digest row. The Message-ID is committed first, and
    status ``sending`` just before the message is handed over (DATA): a process killed
    after that is not repeated (the outbox calls it ``unknown``), one killed before
    tries again."""
    zone = _zone(db, digest)
    period = period_of(period_key, digest, zone)
    message_id = make_msgid(idstring=f"digest{digest.user_id}", domain=_domain(settings))
    with db.write() as session:
        attempts = session.scalar(select(Outbox.attempts).where(Outbox.id == row_id)) or 0
        OutboxStore(session).set_message_id([row_id], message_id)

    def before_data() -> None:
        with db.write() as session:
            OutboxStore(session).mark_sending([row_id], now=now, lease=LEASE)

    try:
        message = digest_message(db, settings, digest, period, zone, message_id)
        deliver(settings, message, [digest.email], before_data)
    except Exception as exc:
        permanent = bool(getattr(exc, "permanent", False)) or attempts + 1 >= MAX_ATTEMPTS
        with db.write() as session:
            error = f"{exc}"[:500] or type(exc).__name__
            OutboxStore(session).mark_failed([row_id], error, now=now, retry_at=None)
            if not permanent:
                retry = now + backoff(attempts + 1)
                session.execute(
                    update(Outbox)
                    .where(Outbox.id == row_id)
                    .values(lease_owner=RETRY_OWNER, lease_until=retry, next_attempt_at=NEVER)
                )
        raise
    with db.write() as session:
        OutboxStore(session).mark_sent([row_id], now=now)
    return 1


def period_of(key: str, digest: DigestInfo, zone: str) -> Period:
    """The period a key names (``daily:2026-12-02``), at the digest's current time."""
    frequency, _, day = key.partition(":")
    at_day = date.fromisoformat(day)
    tz = text.zone(zone)
    hour, minute = (int(p) for p in digest.local_time.split(":"))
    step = 7 if frequency == "weekly" else 1
    clock = time(hour, minute)
    return Period(
        frequency,
        _local(at_day, clock, tz),
        _local(at_day - timedelta(days=step), clock, tz),
        _local(at_day - timedelta(days=2 * step), clock, tz),
        at_day,
    )


def digest_message(
    db: Database,
    settings: Settings,
    digest: DigestInfo,
    period: Period,
    zone: str,
    message_id: str,
) -> EmailMessage:
    locale = text.pick_locale(digest.language)
    tz = text.zone(zone)
    base = settings.public_base
    with db.read() as session:
        views = SavedViewStore(session).visible_to(digest.user_id)[:MAX_VIEWS]
        summaries = [
            s
            for v in views
            if (
                s := summarise_view(
                    session, v.id, v.name, v.query, period, base=base, locale=locale, tz=tz
                )
            )
            is not None
        ]
    recipient = DigestRecipient(digest.user_id, digest.email, locale, zone)
    return build_digest_message(
        recipient,
        period,
        summaries,
        sender=sender_of(settings),
        base_url=base,
        secret_key=settings.secret_key,
        message_id=message_id,
    )


def deliver(
    settings: Settings,
    message: EmailMessage,
    recipients: list[str],
    before_data: Callable[[], None],
) -> None:
    """Hand the message to the SMTP server (``app.alerts.smtp``, the alerts' sender)."""
    from app.alerts import smtp

    smtp.send_sync(settings, message, recipients, before_data=before_data)


def _domain(settings: Settings) -> str:
    address = sender_of(settings).rpartition("<")[2].rstrip(">")
    return address.rpartition("@")[2] or "newsmon.invalid"
