"""The delivery runner: run by the poller process (``newsmon poll`` and the poller
child of ``newsmon serve``) every ``NEWSMON_ALERTS_INTERVAL_SECONDS``.

Each pass: (1) recover deliveries whose sender died mid-send; (2) once a minute, check
the spike rules; (3) claim due deliveries (a lease; several pollers share the work),
group them per rule and Message-ID, and for each group honour the rule's quiet hours
and daily cap (postponing, never dropping), record the Message-ID / Idempotency-Key,
send, and record the outcome: sent, or a retry after exponential backoff; a rule that
fails ``NEWSMON_ALERT_MAX_FAILURES`` times in a row is disabled with the reason; (4) the
digests (``app.alerts.digest.send_due``), at most every 30 s.

Database work runs in worker threads so the poller's event loop is never blocked.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.alerts import mail, smtp, unsubscribe
from app.alerts.content import AlertArticle, AlertContent, SpikeInfo
from app.alerts.links import article_url, view_url
from app.alerts.match import filter_from_query
from app.alerts.spike import check_spikes
from app.alerts.webhook import WebhookSender, build_payload, encode, webhook_policy
from app.config import Settings
from app.core.errors import InvalidInput
from app.core.timeline import THEME_BITS
from app.feeds.guard import Resolver, system_resolver
from app.store.alerts import (
    AlertRuleInfo,
    AlertRuleStore,
    Delivery,
    DigestStore,
    OutboxItem,
    OutboxStore,
    backoff,
    local_day_start,
)
from app.store.articles import ArticleStore
from app.store.db import Database
from app.store.tables import Article, ArticleSource, Feed

log = logging.getLogger("newsmon.alerts")
LEASE = timedelta(seconds=120)  # longer than any one send (webhook 10 s, SMTP steps 30 s)
SPIKE_EVERY = timedelta(minutes=1)
DIGEST_EVERY = timedelta(seconds=30)
PRUNE_EVERY = timedelta(hours=1)
KEEP = timedelta(days=30)  # finished deliveries are forgotten after this
MAX_ARTICLES = 50  # per message; more wait for the next one
MAX_CLAIMS = 20  # claims per pass (100 deliveries each), so a pass always ends
RETRY_AFTER_CRASH = timedelta(seconds=30)  # a delivery whose handling raised
_T = TypeVar("_T")


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True)
class RunSummary:
    sent: int = 0
    failed: int = 0
    postponed: int = 0
    spikes: int = 0
    digests: int = 0
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"alerts: {self.sent} sent, {self.failed} failed, {self.postponed} postponed, "
            f"{self.spikes} spikes, {self.digests} digests"
        )


def _hhmm(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def quiet_until(rule: AlertRuleInfo, now: datetime, zone: str) -> datetime | None:
    """The end of the rule's quiet hours if ``now`` falls in them, else None."""
    if not rule.quiet_start or not rule.quiet_end or rule.quiet_start == rule.quiet_end:
        return None
    tz = ZoneInfo(zone)
    local = now.astimezone(tz)
    start, end = _hhmm(rule.quiet_start), _hhmm(rule.quiet_end)
    t = local.time()
    inside = (start <= t < end) if start < end else (t >= start or t < end)
    if not inside:
        return None
    day = local.date() if t < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=tz).astimezone(UTC)


def message_id_for(settings: Settings) -> str:
    host = settings.smtp_from.rpartition("@")[2] or "newsmon.invalid"
    return f"<newsmon.{uuid.uuid4().hex}@{host}>"


def _themes(mask: int) -> tuple[str, ...]:
    return tuple(key for key, bit in THEME_BITS.items() if mask & bit)


class AlertRunner:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utcnow,
        resolver: Resolver = system_resolver,
        digests: bool = True,
        spikes: bool = True,
    ) -> None:
        self.db = db
        self.settings = settings
        self.clock = clock
        self.resolver = resolver
        self.digests = digests
        self.spikes = spikes
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"[:64]
        self._next_spike: datetime | None = None
        self._next_digest: datetime | None = None
        self._next_prune: datetime | None = None
        self._sender: WebhookSender | None = None
        self._woken = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- plumbing ---------------------------------------------------------------------

    async def _write(self, fn: Callable[[Session], _T]) -> _T:
        def run() -> _T:
            with self.db.write() as session:
                return fn(session)

        return await anyio.to_thread.run_sync(run)

    async def _read(self, fn: Callable[[Session], _T]) -> _T:
        def run() -> _T:
            with self.db.read() as session:
                return fn(session)

        return await anyio.to_thread.run_sync(run)

    def _webhooks(self) -> WebhookSender:
        if self._sender is None:
            self._sender = WebhookSender(webhook_policy(self.settings), resolver=self.resolver)
        return self._sender

    async def aclose(self) -> None:
        if self._sender is not None:
            await self._sender.aclose()
            self._sender = None

    # -- passes -----------------------------------------------------------------------

    async def run_once(self) -> RunSummary:
        summary = RunSummary()
        now = self.clock()
        if self._next_prune is None or now >= self._next_prune:
            self._next_prune = now + PRUNE_EVERY
            await self._write(lambda s: OutboxStore(s).prune(before=now - KEEP))
        if self.spikes and (self._next_spike is None or now >= self._next_spike):
            self._next_spike = now + SPIKE_EVERY
            summary.spikes = await self._write(
                lambda s: check_spikes(s, now, secret_key=self.settings.secret_key)
            )
        # An idle pass only reads: no write transaction every few seconds on SQLite.
        busy = await self._read(lambda s: OutboxStore(s).has_work(now=now))
        if busy:
            lost, _again = await self._write(lambda s: OutboxStore(s).recover(now=now))
            if lost:
                log.warning("alerts: %d e-mails interrupted mid-send; not sent again", lost)
        for _ in range(MAX_CLAIMS if busy else 0):
            claimed = await self._write(self._claim)
            if not claimed:
                break
            await self._deliver_all(claimed, summary)
        now = self.clock()
        if self.digests and (self._next_digest is None or now >= self._next_digest):
            self._next_digest = now + DIGEST_EVERY
            try:
                summary.digests = await anyio.to_thread.run_sync(
                    _send_digests, self.db, self.settings, now
                )
            except Exception as exc:
                log.exception("digests failed")
                summary.errors.append(f"digests: {exc}")
        return summary

    async def run_forever(self, stop: asyncio.Event, interval: float | None = None) -> None:
        wait = interval if interval is not None else self.settings.alerts_interval_seconds
        self._loop = asyncio.get_running_loop()
        self._woken = asyncio.Event()  # bound to this loop
        try:
            while not stop.is_set():
                self._woken.clear()
                try:
                    summary = await self.run_once()
                    if summary.sent or summary.failed or summary.spikes:
                        log.info(summary.line())
                except Exception:
                    log.exception("alert delivery pass failed")
                stopping = asyncio.ensure_future(stop.wait())
                woken = asyncio.ensure_future(self._woken.wait())
                try:
                    await asyncio.wait(
                        {stopping, woken}, timeout=wait, return_when="FIRST_COMPLETED"
                    )
                finally:
                    for task in (stopping, woken):
                        task.cancel()
        finally:
            self._loop = None
            await self.aclose()

    def wake(self) -> None:
        """Run the next pass now (thread-safe): deliveries due now were committed."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._woken.set)

    def _claim(self, session: Session) -> list[Delivery]:
        return OutboxStore(session).claim_due(now=self.clock(), owner=self.owner, lease=LEASE)

    def _postponer(self, ids: list[int], wait: timedelta) -> Callable[[Session], None]:
        until = self.clock() + wait

        def run(session: Session) -> None:
            OutboxStore(session).postpone(ids, until)

        return run

    async def send_test(self, rule_id: int) -> Delivery:
        """A test delivery of a rule, now (quiet hours and cap ignored); its outcome."""
        now = self.clock()
        key = f"t:{uuid.uuid4().hex[:20]}"

        def enqueue(session: Session) -> list[Delivery]:
            rule = AlertRuleStore(session).get(rule_id)
            OutboxStore(session).enqueue(
                [OutboxItem(rule.channel, key, "test", rule_id=rule.id)], now=now
            )
            outbox = OutboxStore(session)
            ids = [d.id for d in outbox.for_rule(rule.id, limit=5) if d.subject_key == key]
            return outbox.claim_due(now=now, owner=self.owner, lease=LEASE, ids=ids)

        claimed = await self._write(enqueue)
        await self._deliver_all(claimed, RunSummary())
        rows = await self._read(lambda s: OutboxStore(s).get_many([claimed[0].id]))
        return rows[0]

    # -- one group ----------------------------------------------------------------------

    async def _deliver_all(self, claimed: Sequence[Delivery], summary: RunSummary) -> None:
        groups: dict[tuple[int, str | None, str], list[Delivery]] = {}
        for d in claimed:
            assert d.rule_id is not None
            # a test, a spike: alone; new matches of one rule: together
            kind = d.kind if d.kind == "new" else f"{d.kind}:{d.id}"
            groups.setdefault((d.rule_id, d.message_id, kind), []).append(d)
        for (rule_id, message_id, _), rows in groups.items():
            try:
                await self._deliver(rule_id, message_id, rows, summary)
            except Exception as exc:
                log.exception("alert %s: delivery failed", rule_id)
                summary.errors.append(f"rule {rule_id}: {exc}")
                await self._write(self._postponer([r.id for r in rows], RETRY_AFTER_CRASH))

    async def _deliver(
        self, rule_id: int, message_id: str | None, rows: list[Delivery], summary: RunSummary
    ) -> None:
        now = self.clock()
        ids = [r.id for r in rows][:MAX_ARTICLES]
        extra = [r.id for r in rows][MAX_ARTICLES:]
        if extra:
            await self._write(lambda s: OutboxStore(s).release(extra))
        rows = rows[:MAX_ARTICLES]
        test = rows[0].kind == "test"

        def prepare(session: Session) -> tuple[str, Any]:
            store = AlertRuleStore(session, self.settings.secret_key)
            outbox = OutboxStore(session)
            rule = store.get(rule_id)
            if not rule.enabled and not test:
                outbox.mark_failed(
                    ids,
                    f"the alert is off: {rule.disabled_reason or 'disabled'}",
                    now=now,
                    retry_at=None,
                )
                return "off", None
            if not test:
                zone = store.owner_time_zone(rule)
                until = quiet_until(rule, now, zone)
                if until is not None:
                    outbox.postpone(ids, until)
                    return "postponed", None
                if rule.daily_cap:
                    day = local_day_start(now, zone)
                    if outbox.sent_messages_since(rule.id, day) >= rule.daily_cap:
                        outbox.postpone(ids, (day + timedelta(days=1)).astimezone(UTC))
                        return "postponed", None
            mid = message_id or (
                message_id_for(self.settings) if rule.channel == "email" else uuid.uuid4().hex
            )
            if message_id is None:
                outbox.set_message_id(ids, mid)  # committed before anything is sent
            content = self._content(session, rule, rows, mid, now)
            secret = store.webhook_secret(rule.id) if rule.channel == "webhook" else None
            return "send", (rule, content, secret)

        verdict, prepared = await self._write(prepare)
        if verdict == "postponed":
            summary.postponed += len(ids)
            return
        if verdict == "off":
            summary.failed += len(ids)
            return
        rule, content, secret = prepared
        if rule.channel == "webhook":
            error = await self._send_webhook(content, secret, ids)
        else:
            error = await self._send_email(rule, content, ids)
        await self._record(rule, rows, ids, error, summary, test=test)

    async def _send_webhook(
        self, content: AlertContent, secret: str | None, ids: list[int]
    ) -> str | None:
        now = self.clock()
        await self._write(lambda s: OutboxStore(s).mark_sending(ids, now=now, lease=LEASE))
        body = encode(build_payload(content))
        result = await self._webhooks().send(
            content.rule.target,
            body,
            key=content.message_id,
            secret=secret,
            timestamp=int(now.timestamp()),
        )
        return None if result.ok else (result.error or "failed")

    async def _send_email(
        self, rule: AlertRuleInfo, content: AlertContent, ids: list[int]
    ) -> str | None:
        msg = mail.build_alert_message(content, self.settings)
        for header in ("From", "To", "Message-ID", "Date"):
            del msg[header]
        msg["From"] = self.settings.smtp_from
        msg["To"] = rule.target
        msg["Message-ID"] = content.message_id
        msg["Date"] = content.now.strftime("%a, %d %b %Y %H:%M:%S +0000")
        msg["Auto-Submitted"] = "auto-generated"

        def before_data() -> None:
            with self.db.write() as session:
                OutboxStore(session).mark_sending(ids, now=self.clock(), lease=LEASE)

        try:
            await smtp.send(self.settings, msg, [rule.target], before_data=before_data)
        except smtp.MailError as exc:
            return str(exc)
        return None

    async def _record(
        self,
        rule: AlertRuleInfo,
        rows: list[Delivery],
        ids: list[int],
        error: str | None,
        summary: RunSummary,
        *,
        test: bool,
    ) -> None:
        now = self.clock()
        attempts = max(r.attempts for r in rows) + 1

        def record(session: Session) -> None:
            outbox = OutboxStore(session)
            rules = AlertRuleStore(session)
            if error is None:
                outbox.mark_sent(ids, now=now)
                if not test:
                    rules.record_success(rule.id, now=now)
                return
            if test:
                outbox.mark_failed(ids, error, now=now, retry_at=None)
                return
            disabled = rules.record_failure(
                rule.id, error, now=now, max_failures=self.settings.alert_max_failures
            )
            if disabled:
                reason = f"the alert was disabled after repeated failures; last error: {error}"
                outbox.mark_failed(
                    sorted({*ids, *outbox.pending_ids(rule.id)}), reason, now=now, retry_at=None
                )
            else:
                wait = backoff(attempts, base=self.settings.alert_retry_seconds)
                outbox.mark_failed(ids, error, now=now, retry_at=now + wait)

        await self._write(record)
        if error is None:
            summary.sent += len(ids)
        else:
            summary.failed += len(ids)
            log.warning("alert %s: delivery failed: %s", rule.id, error)

    # -- content --------------------------------------------------------------------

    def _content(
        self,
        session: Session,
        rule: AlertRuleInfo,
        rows: list[Delivery],
        message_id: str,
        now: datetime,
    ) -> AlertContent:
        base = self.settings.public_base
        ids = [r.article_id for r in rows if r.article_id is not None]
        kind = rows[0].kind
        spike = None
        if kind == "spike":
            p = rows[0].payload
            spike = SpikeInfo(
                window_start=datetime.fromisoformat(p["window_start"]),
                window_end=datetime.fromisoformat(p["window_end"]),
                count=int(p["count"]),
                baseline=float(p["baseline"]),
                factor=rule.spike_factor,
                min_count=rule.spike_min_count,
            )
            ids = self._newest_of_view(session, rule, spike.window_start, spike.window_end)
        elif kind == "test":
            ids = self._newest_of_view(session, rule, None, None)[:3]
        articles = self._articles(session, ids, base)
        return AlertContent(
            kind=kind,
            rule=rule,
            articles=tuple(articles),
            view_url=view_url(base, rule.view_query),
            message_id=message_id,
            now=now,
            language=rule.language or "en",
            spike=spike,
            unsubscribe_url=unsubscribe.unsubscribe_url(
                base, self.settings.secret_key, "rule", rule.id, rule.target
            )
            if rule.channel == "email"
            else None,
            reason=f"matches the view “{rule.view_name}”",
            # times in the recipient's zone: the rule's, else its owner's, else UTC
            extra={
                "time_zone": AlertRuleStore(session, self.settings.secret_key).owner_time_zone(rule)
            },
        )

    def _newest_of_view(
        self,
        session: Session,
        rule: AlertRuleInfo,
        since: datetime | None,
        until: datetime | None,
    ) -> list[int]:
        try:
            flt = filter_from_query(rule.view_query)
        except InvalidInput:
            return []
        from dataclasses import replace

        flt = replace(flt, since=since, until=until)
        stmt = ArticleStore(session).filtered(select(Article.id), flt)
        stmt = stmt.order_by(Article.published_at.desc(), Article.id.desc()).limit(10)
        return list(session.scalars(stmt))

    def _articles(self, session: Session, ids: list[int], base: str) -> list[AlertArticle]:
        if not ids:
            return []
        rows = session.scalars(select(Article).where(Article.id.in_(ids))).all()
        outlets: dict[int, str] = {}
        for aid, title in session.execute(
            select(ArticleSource.article_id, Feed.title)
            .join(Feed, Feed.id == ArticleSource.feed_id)
            .where(ArticleSource.article_id.in_(ids))
            .order_by(ArticleSource.first_seen_at)
        ):
            if title:
                outlets.setdefault(aid, title)
        order = {aid: i for i, aid in enumerate(ids)}
        return [
            AlertArticle(
                id=r.id,
                url=r.url,
                title=r.title,
                outlet=r.outlet or outlets.get(r.id),
                published_at=r.published_at,
                themes=_themes(r.theme_mask),
                relevant=r.relevant,
                relevance_reason=r.relevance_reason,
                newsmon_url=article_url(base, r.id),
            )
            for r in sorted(rows, key=lambda r: order.get(r.id, 0))
        ]


def _send_digests(db: Database, settings: Settings, now: datetime) -> int:
    """``digest.send_due``, imported only when some user has a digest enabled: the
    digest's rendering (article store, charts, locales) is ~30 ms of a poll's start-up,
    and without an enabled digest there is nothing to send or retry."""
    with db.read() as session:
        enabled = DigestStore(session).enabled()
    if not enabled:
        return 0
    from app.alerts import digest

    return digest.send_due(db, settings, now, enabled)
