"""Alerts and digests in the browser (issue 17): a saved view's page with its alert
rules, the digest settings on /account, "send a test now", failed deliveries with
their error for whoever may change the rule, and the one-click unsubscribe.

Anyone signed in manages their own alerts; team alerts take the editor role (the
store checks it, the pages only hide what would be refused). Every form carries
the CSRF token (the app-wide check). The one exception is ``POST /unsubscribe/…``
(RFC 8058: a mail provider posts there without cookies, Origin or token): it acts
on the signed token in its path alone, never on a session, so there is no ambient
authority for a forged request to borrow; see ``web.csrf.SIGNED_LINKS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from app.alerts import unsubscribe
from app.alerts.runner import AlertRunner
from app.core.errors import InvalidInput, NotFound, PermissionDenied
from app.store.alerts import (
    AlertRuleInfo,
    AlertRuleStore,
    Delivery,
    DigestInfo,
    DigestStore,
    OutboxStore,
)
from app.store.audit import AuditStore
from app.store.saved_views import SavedViewStore
from app.store.tables import Outbox
from app.store.users import UserView
from app.web.accounts import render
from app.web.auth import Principal, now_utc, require_user, template_user
from app.web.flash import set_notice
from app.web.reading_pages import reader_zone

router = APIRouter(include_in_schema=False)
public_router = APIRouter(include_in_schema=False)  # unsubscribe: no sign-in, no reader rule
UserDep = Annotated[Principal, Depends(require_user)]
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
FAILURES_SHOWN = 10


@dataclass(frozen=True, slots=True)
class RuleRow:
    rule: AlertRuleInfo
    can_change: bool
    failures: tuple[Delivery, ...]  # only for those who may change the rule


def can_change(rule: AlertRuleInfo, user: UserView) -> bool:
    return (rule.owner_id == user.id) or (rule.shared and user.has_role("editor"))


def _rows(session: Any, rules: list[AlertRuleInfo], user: UserView) -> list[RuleRow]:
    outbox = OutboxStore(session)
    rows = []
    for r in rules:
        allowed = can_change(r, user)
        failures = tuple(outbox.failures(r.id, limit=FAILURES_SHOWN)) if allowed else ()
        rows.append(RuleRow(r, allowed, failures))
    return rows


def _store(session: Any, request: Request) -> AlertRuleStore:
    return AlertRuleStore(session, request.app.state.settings.secret_key)


# -- a saved view's page ------------------------------------------------------------------


@router.get("/views/{view_id}", response_class=HTMLResponse)
def view_page(request: Request, view_id: Id, user: UserDep) -> HTMLResponse:
    with request.app.state.db.read() as session:
        view = SavedViewStore(session).get(view_id, by=user.user)
        rules = _rows(session, _store(session, request).for_view(view_id, by=user.user), user.user)
        digest = DigestStore(session).get(user.user.id)
    # the zone the pages use (the user's choice, else the browser's): the alert's times,
    # quiet hours and e-mails follow it
    context = {
        "view": view,
        "rules": rules,
        "digest": digest,
        "default_zone": reader_zone(request),
        "user": user.user,
    }
    return render(request, "view.html", context)


def _optional_int(raw: str, field: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 6:
        raise InvalidInput(f"{field.replace('_', ' ')} must be a whole number", field=field)
    return int(raw)


def _float(raw: str, field: str) -> float:
    try:
        return float(raw.replace(",", "."))
    except ValueError as exc:
        raise InvalidInput(f"{field.replace('_', ' ')} must be a number", field=field) from exc


@router.post("/views/{view_id}/alerts")
def create_alert(
    request: Request,
    view_id: Id,
    user: UserDep,
    channel: Annotated[str, Form(max_length=10)],
    target: Annotated[str, Form(max_length=2000)],
    kind: Annotated[str, Form(max_length=10)] = "new",
    batch: Annotated[str, Form(max_length=10)] = "now",
    spike_hours: Annotated[str, Form(max_length=10)] = "6",
    spike_factor: Annotated[str, Form(max_length=10)] = "3",
    spike_min_count: Annotated[str, Form(max_length=10)] = "5",
    quiet_start: Annotated[str, Form(max_length=5)] = "",
    quiet_end: Annotated[str, Form(max_length=5)] = "",
    time_zone: Annotated[str, Form(max_length=64)] = "",
    daily_cap: Annotated[str, Form(max_length=10)] = "",
    language: Annotated[str, Form(max_length=5)] = "",
    secret: Annotated[str, Form(max_length=200)] = "",
    shared: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    settings: dict[str, Any] = {
        "kind": kind,
        "batch": batch,
        "quiet_start": quiet_start.strip() or None,
        "quiet_end": quiet_end.strip() or None,
        "time_zone": time_zone.strip() or None,
        "daily_cap": _optional_int(daily_cap, "daily_cap"),
        "language": language or None,
    }
    if kind == "spike":
        settings["spike_hours"] = _optional_int(spike_hours, "spike_hours") or 6
        settings["spike_factor"] = _float(spike_factor, "spike_factor")
        settings["spike_min_count"] = _optional_int(spike_min_count, "spike_min_count") or 5
    now = now_utc()
    with request.app.state.db.write() as session:
        rule = _store(session, request).create(
            view_id,
            by=user.user,
            now=now,
            channel=channel,
            target=target,
            shared=shared == "yes",
            secret=secret or None,
            **settings,
        )
        _audit(session, "alert.create", user.user, rule.id, view=view_id, channel=channel)
    response = RedirectResponse(f"/views/{view_id}#alert-{rule.id}", status_code=303)
    set_notice(response, "alert-created", rule.view_name)
    return response


def _changeable(session: Any, request: Request, rule_id: int, user: UserView) -> AlertRuleInfo:
    rule = _store(session, request).get(rule_id, by=user)
    if not can_change(rule, user):
        raise PermissionDenied("changing a team alert takes the editor role")
    return rule


@router.post("/alerts/{rule_id}/enabled")
def set_enabled(
    request: Request,
    rule_id: Id,
    user: UserDep,
    enabled: Annotated[str, Form(max_length=5)],
) -> Response:
    on = enabled == "yes"
    with request.app.state.db.write() as session:
        rule = _store(session, request).update(rule_id, by=user.user, now=now_utc(), enabled=on)
        _audit(session, "alert.enable" if on else "alert.pause", user.user, rule.id)
    response = RedirectResponse(f"/views/{rule.view_id}#alert-{rule.id}", status_code=303)
    set_notice(response, "alert-resumed" if on else "alert-paused", rule.view_name)
    return response


@router.post("/alerts/{rule_id}/delete")
def delete_alert(request: Request, rule_id: Id, user: UserDep) -> Response:
    with request.app.state.db.write() as session:
        rule = _store(session, request).delete(rule_id, by=user.user)
        _audit(session, "alert.delete", user.user, rule.id, view=rule.view_id)
    response = RedirectResponse(f"/views/{rule.view_id}#alerts", status_code=303)
    set_notice(response, "alert-deleted", rule.view_name)
    return response


@router.post("/alerts/{rule_id}/test")
async def send_test(request: Request, rule_id: Id, user: UserDep) -> Response:
    """Send a test now, through the real channel; the outcome is the notice."""
    db = request.app.state.db
    with db.read() as session:
        rule = _changeable(session, request, rule_id, user.user)
    runner = AlertRunner(db, request.app.state.settings, digests=False, spikes=False)
    try:
        delivery = await runner.send_test(rule.id)
    finally:
        await runner.aclose()
    with db.write() as session:
        _audit(session, "alert.test", user.user, rule.id, status=delivery.status)
    response = RedirectResponse(f"/views/{rule.view_id}#alert-{rule.id}", status_code=303)
    if delivery.status == "sent":
        set_notice(response, "alert-test-sent", rule.target)
    else:
        set_notice(response, "alert-test-failed", delivery.last_error or delivery.status)
    return response


def _audit(session: Any, action: str, user: UserView, rule_id: int, **detail: Any) -> None:
    AuditStore(session).record(
        action,
        now=now_utc(),
        user_id=user.id,
        target_type="alert",
        target_id=rule_id,
        detail=detail,
    )


# -- /account: the digest and every alert ----------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountAlerts:
    digest: DigestInfo | None
    digest_zone: str
    digest_failures: tuple[Delivery, ...]
    rules: tuple[RuleRow, ...]


def account_alerts(request: Request) -> AccountAlerts | None:
    """Template global for account.html: the user's digest and alerts."""
    user = template_user(request)
    if user is None:
        return None
    with request.app.state.db.read() as session:
        digest = DigestStore(session).get(user.id)
        rules = _rows(session, _store(session, request).list_for(user), user)
        failures = digest_failures(session, user.id)
    zone = (digest.time_zone if digest else None) or reader_zone(request)
    return AccountAlerts(digest, zone, failures, tuple(rules))


def digest_failures(session: Any, user_id: int) -> tuple[Delivery, ...]:
    """The user's digests that failed or are waiting for a retry, newest first."""
    ids = session.scalars(
        select(Outbox.id)
        .where(
            Outbox.user_id == user_id,
            Outbox.rule_id.is_(None),
            Outbox.last_error.is_not(None),
        )
        .order_by(Outbox.id.desc())
        .limit(FAILURES_SHOWN)
    )
    return tuple(OutboxStore(session).get_many(list(ids)))


@router.post("/account/digest")
def save_digest(
    request: Request,
    user: UserDep,
    email: Annotated[str, Form(max_length=320)],
    frequency: Annotated[str, Form(max_length=10)] = "daily",
    local_time: Annotated[str, Form(max_length=5)] = "08:00",
    weekday: Annotated[str, Form(max_length=1)] = "0",
    time_zone: Annotated[str, Form(max_length=64)] = "",
    language: Annotated[str, Form(max_length=5)] = "",
    enabled: Annotated[str, Form(max_length=5)] = "yes",
) -> Response:
    if not weekday.isdigit():
        raise InvalidInput("weekday must be 0 (Monday) to 6", field="weekday")
    with request.app.state.db.write() as session:
        DigestStore(session).put(
            user.user.id,
            now=now_utc(),
            email=email,
            frequency=frequency,
            local_time=local_time,
            weekday=int(weekday),
            time_zone=time_zone.strip() or None,
            language=language or None,
            enabled=enabled == "yes",
        )
        AuditStore(session).record(
            "digest.save", now=now_utc(), user_id=user.user.id, detail={"frequency": frequency}
        )
    response = RedirectResponse("/account#digest", status_code=303)
    set_notice(response, "digest-saved" if enabled == "yes" else "digest-off")
    return response


# -- one-click unsubscribe (RFC 8058) ------------------------------------------------------


def _secret(request: Request) -> str:
    secret: str = request.app.state.settings.secret_key
    return secret


@public_router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_confirm(request: Request, token: Annotated[str, Path(max_length=64)]) -> Response:
    """A page that asks, so a link scanner that opens the URL unsubscribes nobody."""
    with request.app.state.db.read() as session:
        found = unsubscribe.find(session, _secret(request), token)
    if found is None:
        raise NotFound("this unsubscribe link is not valid (any more)")
    return _unsubscribe_page(request, found, token, done=False)


@public_router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe_now(request: Request, token: Annotated[str, Path(max_length=64)]) -> Response:
    """One click: the mail client's POST (body ``List-Unsubscribe=One-Click``) or the
    confirm page's button. Idempotent."""
    now = now_utc()
    with request.app.state.db.write() as session:
        found = unsubscribe.apply(session, _secret(request), token, now=now)
        if found is not None:
            AuditStore(session).record(
                "alert.unsubscribe" if found.kind == "rule" else "digest.unsubscribe",
                now=now,
                target_type="alert" if found.kind == "rule" else "user",
                target_id=found.id,
            )
    if found is None:
        raise NotFound("this unsubscribe link is not valid (any more)")
    return _unsubscribe_page(request, found, token, done=True)


def _unsubscribe_page(
    request: Request, found: unsubscribe.Subscription, token: str, *, done: bool
) -> HTMLResponse:
    context = {"found": found, "token": token, "done": done}
    response = render(request, "unsubscribe.html", context)
    response.headers["Referrer-Policy"] = "no-referrer"  # the token stays in this page
    return response
