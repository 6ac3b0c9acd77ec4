"""``newsmon views`` and ``newsmon alerts``: saved views and alert rules for operators.

The command line acts as an administrator: without ``--user`` a view or alert is the
team's; with it, that user's own. ``alerts test`` sends a test delivery now and prints
the outcome; ``alerts run`` runs the delivery runner alone (``newsmon poll`` runs it
too, beside the poller).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from app.cli.common import Subparsers, open_db
from app.config import Settings, with_secret
from app.core.errors import InvalidInput, NotFound
from app.store.users import UserView

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from app.store.alerts import Delivery
    from app.store.db import Database

OPERATOR = UserView(0, "cli", "admin")


def register(sub: Subparsers) -> None:
    views = sub.add_parser("views", help="saved views").add_subparsers(metavar="ACTION")
    add = views.add_parser("add", help="save a timeline filter under a name")
    add.add_argument("name")
    add.add_argument(
        "--query", required=True, help="the timeline's query string, e.g. 'theme=security&lang=de'"
    )
    add.add_argument("--user", help="the owner (default: a team view)")
    add.set_defaults(handler=cmd_views_add)
    views.add_parser("list", help="every saved view").set_defaults(handler=cmd_views_list)
    remove = views.add_parser("remove", help="delete a saved view (and its alerts)")
    remove.add_argument("view", help="id or name")
    remove.set_defaults(handler=cmd_views_remove)

    alerts = sub.add_parser("alerts", help="alert rules").add_subparsers(metavar="ACTION")
    add = alerts.add_parser("add", help="alert on a saved view")
    add.add_argument("view", help="the saved view's id or name")
    where = add.add_mutually_exclusive_group(required=True)
    where.add_argument("--webhook", metavar="URL", help="POST signed JSON to this URL")
    where.add_argument("--email", metavar="ADDR", help="send e-mails to this address")
    add.add_argument("--secret", help="the webhook's signing secret")
    add.add_argument("--when", choices=("new", "spike"), default="new")
    add.add_argument("--batch", choices=("now", "15m", "1h"), default="now")
    add.add_argument("--user", help="the alert's owner (default: the team's, or the view's)")
    add.add_argument("--spike-hours", type=int, help="spike: the window in hours (6)")
    add.add_argument("--factor", type=float, help="spike: times the usual count (3)")
    add.add_argument("--min-count", type=int, help="spike: at least this many articles (5)")
    add.add_argument("--quiet", metavar="HH:MM-HH:MM", help="quiet hours (local time)")
    add.add_argument("--time-zone", help="for quiet hours and the cap (default: owner's, UTC)")
    add.add_argument("--cap", type=int, help="at most this many messages a day")
    add.add_argument("--language", choices=("en", "de"), help="e-mail language")
    add.set_defaults(handler=cmd_alerts_add)
    alerts.add_parser("list", help="every alert with its state").set_defaults(
        handler=cmd_alerts_list
    )
    test = alerts.add_parser("test", help="send a test delivery now and print the outcome")
    test.add_argument("id", type=int)
    test.set_defaults(handler=cmd_alerts_test)
    remove = alerts.add_parser("remove", help="delete an alert")
    remove.add_argument("id", type=int)
    remove.set_defaults(handler=cmd_alerts_remove)
    for action in ("enable", "disable"):
        one = alerts.add_parser(action, help=f"{action} an alert")
        one.add_argument("id", type=int)
        one.set_defaults(handler=cmd_alerts_toggle, enabled=action == "enable")
    run = alerts.add_parser("run", help="send due deliveries (the poller does this too)")
    run.add_argument("--once", action="store_true", help="one pass, then exit")
    run.set_defaults(handler=cmd_alerts_run)


def _db(settings: Settings) -> Database:
    from app.services.setup import prepare_database

    db = open_db(settings)
    # Webhook secrets are sealed and unsubscribe links signed with the secret key: read
    # (or made) once the database is known to exist, never in a stray folder.
    with_secret(settings)
    prepare_database(settings, db)
    return db


def _user(session: Session, name: str | None) -> UserView:
    from app.store.users import UserStore

    if not name:
        return OPERATOR
    return UserStore(session).find(name)


def _find_view(session: Session, ref: str) -> int:
    from sqlalchemy import select

    from app.store.tables import SavedView

    if ref.isdigit():
        found = session.get(SavedView, int(ref))
        if found is None:
            raise NotFound(f"no saved view with id {ref}")
        return int(found.id)
    ids = list(session.scalars(select(SavedView.id).where(SavedView.name == ref)))
    if not ids:
        raise NotFound(f"no saved view named {ref!r}")
    if len(ids) > 1:
        raise InvalidInput(f"several views are named {ref!r}; give its id (newsmon views list)")
    return int(ids[0])


def cmd_views_add(args: argparse.Namespace, settings: Settings) -> int:
    from app.alerts.match import filter_from_query
    from app.store.saved_views import SavedViewStore
    from app.store.search import parse_query

    flt = filter_from_query(args.query)
    if flt.q:
        parse_query(flt.q)
    with _db(settings).write() as session:
        by = _user(session, args.user)
        view = SavedViewStore(session).create(
            args.name, args.query, by=by, shared=args.user is None, now=datetime.now(UTC)
        )
    owner = args.user or "team"
    print(f"added view {view.id}: {view.name} ({owner}) ?{view.query}")
    return 0


def cmd_views_list(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy import select

    from app.store.tables import SavedView, User

    with open_db(settings).read() as session:
        rows = session.execute(
            select(SavedView, User.name)
            .outerjoin(User, User.id == SavedView.owner_id)
            .order_by(SavedView.id)
        ).all()
    for view, owner in rows:
        print(f"{view.id:>4}  {owner or 'team':<12} {view.name:<30} ?{view.query}")
    return 0


def cmd_views_remove(args: argparse.Namespace, settings: Settings) -> int:
    from app.store.tables import SavedView

    with _db(settings).write() as session:
        view = session.get(SavedView, _find_view(session, args.view))
        assert view is not None
        session.delete(view)
    print(f"removed view {args.view}")
    return 0


def cmd_alerts_add(args: argparse.Namespace, settings: Settings) -> int:
    from app.store.alerts import AlertRuleStore
    from app.store.tables import SavedView
    from app.store.users import UserStore

    channel, target = ("webhook", args.webhook) if args.webhook else ("email", args.email)
    extra: dict[str, object] = {"kind": args.when, "batch": args.batch}
    for key, value in (
        ("spike_hours", args.spike_hours),
        ("spike_factor", args.factor),
        ("spike_min_count", args.min_count),
        ("time_zone", args.time_zone),
        ("daily_cap", args.cap),
        ("language", args.language),
    ):
        if value is not None:
            extra[key] = value
    if args.quiet:
        start, sep, end = args.quiet.partition("-")
        if not sep:
            raise InvalidInput("--quiet takes HH:MM-HH:MM, e.g. 22:00-07:00")
        extra.update(quiet_start=start, quiet_end=end)
    with _db(settings).write() as session:
        view = session.get(SavedView, _find_view(session, args.view))
        assert view is not None
        if args.user:
            by, shared = _user(session, args.user), False
        elif view.owner_id is not None:
            by, shared = UserStore(session).get(view.owner_id), False
        else:
            by, shared = OPERATOR, True
        rule = AlertRuleStore(session, settings.secret_key).create(
            view.id,
            by=by,
            now=datetime.now(UTC),
            channel=channel,
            target=target,
            shared=shared,
            secret=args.secret,
            **extra,
        )
    print(f"added alert {rule.id}: {rule.kind} on “{rule.view_name}” → {channel} {rule.target}")
    return 0


def cmd_alerts_list(args: argparse.Namespace, settings: Settings) -> int:
    from app.store.alerts import AlertRuleStore

    with open_db(settings).read() as session:
        rules = AlertRuleStore(session).all()
    for r in rules:
        state = "on" if r.enabled else f"off ({r.disabled_reason})"
        owner = "team" if r.owner_id is None else f"user {r.owner_id}"
        print(
            f"{r.id:>4}  {r.kind:<5} {r.batch:<3} {owner:<8} “{r.view_name}” → {r.channel} "
            f"{r.target}  {state}"
            + (f"  failures: {r.consecutive_failures}" if r.consecutive_failures else "")
            + (f"  last error: {r.last_error}" if r.last_error and r.enabled else "")
        )
    return 0


def cmd_alerts_test(args: argparse.Namespace, settings: Settings) -> int:
    from app.alerts.runner import AlertRunner

    runner = AlertRunner(_db(settings), settings, digests=False, spikes=False)

    async def go() -> Delivery:
        try:
            return await runner.send_test(args.id)
        finally:
            await runner.aclose()

    result = asyncio.run(go())
    if result.status == "sent":
        print(f"alert {args.id}: test sent ({result.message_id})")
        return 0
    print(f"alert {args.id}: test failed: {result.last_error}")
    return 1


def cmd_alerts_remove(args: argparse.Namespace, settings: Settings) -> int:
    from app.store.alerts import AlertRuleStore

    with _db(settings).write() as session:
        info = AlertRuleStore(session).delete(args.id, by=OPERATOR)
    print(f"removed alert {info.id} on “{info.view_name}”")
    return 0


def cmd_alerts_toggle(args: argparse.Namespace, settings: Settings) -> int:
    from app.store.alerts import AlertRuleStore

    with _db(settings).write() as session:
        store = AlertRuleStore(session, settings.secret_key)
        rule = store.get(args.id)
        by = OPERATOR
        if rule.owner_id is not None:
            from app.store.users import UserStore

            by = UserStore(session).get(rule.owner_id)
        info = store.update(args.id, by=by, now=datetime.now(UTC), enabled=args.enabled)
    print(f"alert {info.id} {'enabled' if info.enabled else 'disabled'}")
    return 0


def cmd_alerts_run(args: argparse.Namespace, settings: Settings) -> int:
    from app.alerts.runner import AlertRunner

    runner = AlertRunner(_db(settings), settings)

    async def run() -> None:
        if args.once:
            try:
                print((await runner.run_once()).line())
            finally:
                await runner.aclose()
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        await runner.run_forever(stop)

    asyncio.run(run())
    return 0
