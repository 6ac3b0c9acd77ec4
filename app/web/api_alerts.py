"""JSON API v1: saved views and their alert rules (issue 17).

The same checks as the pages, from the same stores: anyone signed in manages their
own views and alerts; team views and team alerts take the editor role. A viewer
sees the team's views and alerts but cannot change them, and never sees another
user's (a 404, as if it did not exist). Writes need a session with
``X-CSRF-Token`` or a bearer token with the ``write`` scope. Webhook secrets are
write-only: the API says whether one is set, never what it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from app.core.errors import PermissionDenied
from app.store.alerts import AlertRuleInfo, AlertRuleStore, Delivery, OutboxStore
from app.store.audit import AuditStore
from app.store.saved_views import (
    MAX_NAME,
    MAX_QUERY,
    SavedViewInfo,
    SavedViewStore,
    normalise_query,
)
from app.web.api_editor import problems
from app.web.auth import Principal, now_utc, require_user, require_viewer
from app.web.deps import ReadSession, SettingsDep, WriteSession, ends_transaction
from app.web.params import parse_filter

router = APIRouter(prefix="/api/v1", tags=["alerts"])
Reader = Annotated[Principal, Depends(require_user)]
Writer = Annotated[Principal, Depends(require_viewer)]  # signed in, a write-scope token
Id = Annotated[int, Path(ge=1, le=2**31 - 1)]
HHMM = r"^([01][0-9]|2[0-3]):[0-5][0-9]$"
NAME = Field(min_length=1, max_length=MAX_NAME, pattern=r"\S")


# -- saved views -------------------------------------------------------------------------


class ViewIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"name": "Security DE", "query": "theme=security&lang=de"}]
        },
    )
    name: str = NAME
    query: str = Field(
        "", max_length=MAX_QUERY, description="The timeline's query string, e.g. theme=security"
    )
    shared: StrictBool = Field(False, description="A team view (editors only)")


class ViewPatchIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "Security (German)"}]}
    )
    name: str | None = Field(None, min_length=1, max_length=MAX_NAME, pattern=r"\S")
    query: str | None = Field(None, max_length=MAX_QUERY)


class ViewOut(BaseModel):
    id: int
    name: str
    query: str = Field(description="The timeline's query string (filter keys only)")
    shared: bool = Field(description="True: the team's view; false: only yours")
    timeline: str = Field(description="The view's timeline on this newsmon")
    feed: str = Field(description="The view's Atom feed")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, v: SavedViewInfo, base: str) -> ViewOut:
        return cls(
            id=v.id,
            name=v.name,
            query=v.query,
            shared=v.shared,
            timeline=f"{base}/?{v.query}" if v.query else f"{base}/",
            feed=f"{base}/views/{v.id}/feed.atom",
            created_at=v.created_at,
            updated_at=v.updated_at,
        )


class ViewListOut(BaseModel):
    items: list[ViewOut]


def _check_query(request: Request, query: str) -> str:
    clean = normalise_query(query)
    parse_filter(request, query=clean)  # the timeline's own checks: a 400 names the field
    return clean


def _audit(session: Any, action: str, who: Principal, kind: str, ident: int, **detail: Any) -> None:
    AuditStore(session).record(
        action, now=now_utc(), user_id=who.user.id, target_type=kind, target_id=ident, detail=detail
    )


@router.get("/views", response_model=ViewListOut, summary="Your saved views, then the team's")
@ends_transaction
def list_views(who: Reader, session: ReadSession, settings: SettingsDep) -> ViewListOut:
    views = SavedViewStore(session).visible_to(who.user.id)
    return ViewListOut(items=[ViewOut.of(v, settings.public_base) for v in views])


@router.post(
    "/views",
    response_model=ViewOut,
    status_code=201,
    summary="Save a view (a named timeline filter)",
    responses=problems(400, 401, 403, 409),
)
@ends_transaction
def create_view(
    body: ViewIn,
    who: Writer,
    request: Request,
    session: WriteSession,
    settings: SettingsDep,
    response: Response,
) -> ViewOut:
    """`query` is the timeline's query string; keys that do not filter (`limit`,
    `cursor`) are dropped. `shared: true` makes it the team's (editor role)."""
    query = _check_query(request, body.query)
    view = SavedViewStore(session).create(
        body.name, query, by=who.user, shared=body.shared, now=now_utc()
    )
    _audit(session, "view.create", who, "view", view.id, name=view.name, query=view.query)
    response.headers["Location"] = f"/api/v1/views/{view.id}"
    return ViewOut.of(view, settings.public_base)


@router.get(
    "/views/{view_id}", response_model=ViewOut, summary="One saved view", responses=problems(404)
)
@ends_transaction
def get_view(view_id: Id, who: Reader, session: ReadSession, settings: SettingsDep) -> ViewOut:
    return ViewOut.of(SavedViewStore(session).get(view_id, by=who.user), settings.public_base)


@router.patch(
    "/views/{view_id}",
    response_model=ViewOut,
    summary="Rename a view or change its filter",
    responses=problems(400, 401, 403, 404, 409),
)
@ends_transaction
def patch_view(
    view_id: Id,
    body: ViewPatchIn,
    who: Writer,
    request: Request,
    session: WriteSession,
    settings: SettingsDep,
) -> ViewOut:
    query = None if body.query is None else _check_query(request, body.query)
    view = SavedViewStore(session).update(
        view_id, by=who.user, now=now_utc(), name=body.name, query=query
    )
    _audit(session, "view.update", who, "view", view.id, name=view.name, query=view.query)
    return ViewOut.of(view, settings.public_base)


@router.delete(
    "/views/{view_id}",
    status_code=204,
    summary="Delete a view and its alerts",
    responses=problems(401, 403, 404),
)
@ends_transaction
def delete_view(view_id: Id, who: Writer, session: WriteSession) -> Response:
    view = SavedViewStore(session).delete(view_id, by=who.user)
    _audit(session, "view.delete", who, "view", view.id, name=view.name)
    return Response(status_code=204)


# -- alert rules --------------------------------------------------------------------------

Kind = Literal["new", "spike"]
Batch = Literal["now", "15m", "1h"]
Channel = Literal["email", "webhook"]
Language = Literal["en", "de"]


class AlertSettings(BaseModel):
    kind: Kind | None = Field(None, description="new: each new match; spike: a jump in volume")
    batch: Batch | None = Field(None, description="new matches: at once, or every 15 min / hour")
    spike_hours: int | None = Field(None, ge=1, le=168, description="The spike's window")
    spike_factor: float | None = Field(None, ge=1.0, le=100.0, description="Times the usual")
    spike_min_count: int | None = Field(None, ge=1, le=100_000, description="At least this many")
    quiet_start: str | None = Field(None, pattern=HHMM, description="Quiet hours from (HH:MM)")
    quiet_end: str | None = Field(None, pattern=HHMM, description="Quiet hours until (HH:MM)")
    time_zone: str | None = Field(
        None, max_length=64, description="For quiet hours and the daily cap; null: yours"
    )
    daily_cap: int | None = Field(None, ge=1, le=10_000, description="Messages per local day")
    language: Language | None = Field(None, description="The e-mails' language")


class AlertIn(AlertSettings):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"view_id": 1, "channel": "email", "target": "ana@example.org", "kind": "new"}
            ]
        },
    )
    view_id: int = Field(ge=1, le=2**31 - 1, description="The saved view it watches")
    channel: Channel
    target: str = Field(
        min_length=3, max_length=2000, description="An e-mail address, or the webhook's URL"
    )
    secret: str | None = Field(
        None, min_length=1, max_length=200, description="Webhook signing secret (write-only)"
    )
    shared: StrictBool = Field(False, description="A team alert on a team view (editors only)")


class AlertPatchIn(AlertSettings):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"enabled": False}, {"batch": "1h"}]}
    )
    channel: Channel | None = None
    target: str | None = Field(None, min_length=3, max_length=2000)
    secret: str | None = Field(None, max_length=200, description="Empty string: remove it")
    enabled: StrictBool | None = Field(
        None, description="false: pause; true: resume (also after it was disabled for failures)"
    )


class AlertOut(BaseModel):
    id: int
    view_id: int
    view_name: str
    shared: bool = Field(description="True: the team's alert; false: yours")
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
    disabled_reason: str | None = Field(description="Why it is off (failures, or by whom)")
    consecutive_failures: int
    last_error: str | None
    last_failure_at: datetime | None
    last_sent_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, r: AlertRuleInfo) -> AlertOut:
        return cls(
            id=r.id,
            view_id=r.view_id,
            view_name=r.view_name,
            shared=r.shared,
            kind=r.kind,
            batch=r.batch,
            spike_hours=r.spike_hours,
            spike_factor=r.spike_factor,
            spike_min_count=r.spike_min_count,
            quiet_start=r.quiet_start,
            quiet_end=r.quiet_end,
            time_zone=r.time_zone,
            daily_cap=r.daily_cap,
            channel=r.channel,
            target=r.target,
            has_secret=r.has_secret,
            language=r.language,
            enabled=r.enabled,
            disabled_reason=r.disabled_reason,
            consecutive_failures=r.consecutive_failures,
            last_error=r.last_error,
            last_failure_at=r.last_failure_at,
            last_sent_at=r.last_sent_at,
            created_at=r.created_at,
            updated_at=r.updated_at,
        )


class AlertListOut(BaseModel):
    items: list[AlertOut]


class DeliveryOut(BaseModel):
    id: int
    kind: str = Field(description="new, spike or test")
    status: str = Field(description="pending, sending, sent, failed (gave up) or unknown")
    attempts: int
    article_id: int | None
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None

    @classmethod
    def of(cls, d: Delivery) -> DeliveryOut:
        return cls(
            id=d.id,
            kind=d.kind,
            status=d.status,
            attempts=d.attempts,
            article_id=d.article_id,
            last_error=d.last_error,
            created_at=d.created_at,
            next_attempt_at=d.next_attempt_at,
            sent_at=d.sent_at,
        )


class DeliveryListOut(BaseModel):
    items: list[DeliveryOut]


def _settings_of(body: AlertSettings, *, given: set[str]) -> dict[str, Any]:
    keys = AlertSettings.model_fields
    return {k: getattr(body, k) for k in keys if k in given}


def rule_store(session: Any, request: Request) -> AlertRuleStore:
    return AlertRuleStore(session, request.app.state.settings.secret_key)


@router.get("/alerts", response_model=AlertListOut, summary="Your alerts, then the team's")
@ends_transaction
def list_alerts(who: Reader, request: Request, session: ReadSession) -> AlertListOut:
    return AlertListOut(
        items=[AlertOut.of(r) for r in rule_store(session, request).list_for(who.user)]
    )


@router.post(
    "/alerts",
    response_model=AlertOut,
    status_code=201,
    summary="Create an alert on a saved view",
    responses=problems(400, 401, 403, 404),
)
@ends_transaction
def create_alert(
    body: AlertIn, who: Writer, request: Request, session: WriteSession, response: Response
) -> AlertOut:
    """E-mail (`target`: an address) or webhook (`target`: an http(s) URL, `secret`
    to sign it). On your own view, or a team view; `shared: true` makes a team alert
    (editor role, team views only)."""
    given = body.model_fields_set & set(AlertSettings.model_fields)
    rule = rule_store(session, request).create(
        body.view_id,
        by=who.user,
        now=now_utc(),
        channel=body.channel,
        target=body.target,
        shared=body.shared,
        secret=body.secret,
        **{k: v for k, v in _settings_of(body, given=given).items() if v is not None},
    )
    _audit(session, "alert.create", who, "alert", rule.id, view=rule.view_id, channel=rule.channel)
    response.headers["Location"] = f"/api/v1/alerts/{rule.id}"
    return AlertOut.of(rule)


@router.get(
    "/alerts/{alert_id}", response_model=AlertOut, summary="One alert", responses=problems(404)
)
@ends_transaction
def get_alert(alert_id: Id, who: Reader, request: Request, session: ReadSession) -> AlertOut:
    return AlertOut.of(rule_store(session, request).get(alert_id, by=who.user))


@router.patch(
    "/alerts/{alert_id}",
    response_model=AlertOut,
    summary="Change, pause or resume an alert",
    responses=problems(400, 401, 403, 404),
)
@ends_transaction
def patch_alert(
    alert_id: Id, body: AlertPatchIn, who: Writer, request: Request, session: WriteSession
) -> AlertOut:
    """Only the fields sent change; `null` clears quiet hours, the zone, the cap or the
    language."""
    given = body.model_fields_set
    values = _settings_of(body, given=given & set(AlertSettings.model_fields))
    for required in ("kind", "batch", "spike_hours", "spike_factor", "spike_min_count"):
        if values.get(required, 0) is None:
            del values[required]  # these have no "none": null leaves them as they are
    rule = rule_store(session, request).update(
        alert_id,
        by=who.user,
        now=now_utc(),
        channel=body.channel,
        target=body.target,
        secret=body.secret if "secret" in given else None,
        enabled=body.enabled,
        **values,
    )
    _audit(session, "alert.update", who, "alert", rule.id, fields=sorted(given))
    return AlertOut.of(rule)


@router.delete(
    "/alerts/{alert_id}",
    status_code=204,
    summary="Delete an alert",
    responses=problems(401, 403, 404),
)
@ends_transaction
def delete_alert(alert_id: Id, who: Writer, request: Request, session: WriteSession) -> Response:
    rule = rule_store(session, request).delete(alert_id, by=who.user)
    _audit(session, "alert.delete", who, "alert", rule.id, view=rule.view_id)
    return Response(status_code=204)


@router.get(
    "/alerts/{alert_id}/deliveries",
    response_model=DeliveryListOut,
    summary="An alert's latest deliveries, with their errors",
    responses=problems(401, 404),
)
@ends_transaction
def alert_deliveries(
    alert_id: Id, who: Reader, request: Request, session: ReadSession
) -> DeliveryListOut:
    rule = rule_store(session, request).get(alert_id, by=who.user)
    return DeliveryListOut(
        items=[DeliveryOut.of(d) for d in OutboxStore(session).for_rule(rule.id, limit=50)]
    )


@router.post(
    "/alerts/{alert_id}/test",
    response_model=DeliveryOut,
    summary="Send a test of an alert now, through its channel",
    responses=problems(401, 403, 404),
)
async def test_alert(alert_id: Id, who: Writer, request: Request) -> DeliveryOut:
    """Sends the view's newest articles (up to three) as a test, ignoring quiet hours
    and the daily cap, and answers with the outcome: `status` sent, or failed with
    `last_error`. Takes the right to change the alert (yours; the team's: editors)."""
    from app.alerts.runner import AlertRunner

    db = request.app.state.db
    with db.read() as session:
        rule = rule_store(session, request).get(alert_id, by=who.user)
    if not (rule.owner_id == who.user.id or (rule.shared and who.user.has_role("editor"))):
        raise PermissionDenied("testing a team alert takes the editor role")
    runner = AlertRunner(db, request.app.state.settings, digests=False, spikes=False)
    try:
        delivery = await runner.send_test(rule.id)
    finally:
        await runner.aclose()
    with db.write() as session:
        _audit(session, "alert.test", who, "alert", rule.id, status=delivery.status)
    return DeliveryOut.of(delivery)
