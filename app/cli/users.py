"""``newsmon users``: create and list accounts, change a role, disable or enable an
account, reset a password. Every change is audited ("via": "cli")."""

from __future__ import annotations

import argparse
import sys

from app.cli.common import Subparsers, open_db
from app.config import Settings


def register(sub: Subparsers) -> None:
    users = sub.add_parser("users", help="manage accounts").add_subparsers(metavar="ACTION")
    add = users.add_parser("add", help="create an account (password from a prompt or stdin)")
    add.add_argument("name")
    add.add_argument("--role", choices=("viewer", "editor", "admin"), default="viewer")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.set_defaults(handler=cmd_users_add)
    users.add_parser("list", help="accounts and roles").set_defaults(handler=cmd_users_list)
    role = users.add_parser("set-role", help="change an account's role (only the role)")
    role.add_argument("name")
    role.add_argument("role", choices=("viewer", "editor", "admin"))
    role.set_defaults(handler=cmd_users_set_role)
    for action, text in (
        ("disable", "disable an account (ends its sessions and tokens)"),
        ("enable", "enable a disabled account again"),
    ):
        one = users.add_parser(action, help=text)
        one.add_argument("name")
        one.set_defaults(handler=cmd_users_disable if action == "disable" else cmd_users_enable)
    reset = users.add_parser("reset-password", help="set a new password (ends every session)")
    reset.add_argument("name")
    reset.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    reset.set_defaults(handler=cmd_users_reset_password)


def _read_password(args: argparse.Namespace) -> str:
    from app.core.errors import InvalidInput

    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise InvalidInput("no terminal to ask for the password: pipe it in with --password-stdin")
    import getpass

    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat: ") != first:
        raise InvalidInput("the passwords differ")
    return first


def cmd_users_add(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from app.services.setup import prepare_database
    from app.store.audit import AuditStore
    from app.store.users import UserStore

    password = _read_password(args)
    db = open_db(settings)
    prepare_database(settings, db)
    with db.write() as session:
        user = UserStore(session).create(args.name, password, args.role, now=datetime.now(UTC))
        AuditStore(session).record(
            "user.add",
            now=datetime.now(UTC),
            target_type="user",
            target_id=user.id,
            detail={"name": user.name, "role": user.role, "via": "cli"},
        )
    print(f"added user {user.id}: {user.name} ({user.role})")
    return 0


def cmd_users_list(args: argparse.Namespace, settings: Settings) -> int:
    from app.store.users import UserStore

    with open_db(settings).read() as session:
        users = UserStore(session).all()
    for u in users:
        print(f"{u.id:>4}  {u.role:<7} {'disabled' if u.disabled else 'active':<9} {u.name}")
    return 0


def _change(settings: Settings, name: str, action: str, **detail: str) -> str:
    """Apply one change to the account ``name`` and audit it; returns its new state."""
    from datetime import UTC, datetime

    from app.store.audit import AuditStore
    from app.store.users import UserStore

    now = datetime.now(UTC)
    with open_db(settings).write() as session:
        store = UserStore(session)
        user = store.find(name)
        if action == "user.role":
            user = store.set_role(user.id, detail["role"])
        elif action in ("user.disable", "user.enable"):
            user = store.set_disabled(user.id, action == "user.disable", now=now)
        else:
            user = store.reset_password(user.id, detail.pop("password"), now=now)
        AuditStore(session).record(
            action,
            now=now,
            target_type="user",
            target_id=user.id,
            detail={"name": user.name, **detail, "via": "cli"},
        )
    return f"{user.name}: {user.role}, {'disabled' if user.disabled else 'active'}"


def cmd_users_set_role(args: argparse.Namespace, settings: Settings) -> int:
    print(_change(settings, args.name, "user.role", role=args.role))
    return 0


def cmd_users_disable(args: argparse.Namespace, settings: Settings) -> int:
    print(_change(settings, args.name, "user.disable"))
    return 0


def cmd_users_enable(args: argparse.Namespace, settings: Settings) -> int:
    print(_change(settings, args.name, "user.enable"))
    return 0


def cmd_users_reset_password(args: argparse.Namespace, settings: Settings) -> int:
    password = _read_password(args)
    print(_change(settings, args.name, "user.password", password=password) + ", password reset")
    return 0
