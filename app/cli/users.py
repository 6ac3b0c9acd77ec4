"""``newsmon users``: create and list accounts."""

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


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    import getpass

    first = getpass.getpass("Password: ")
    if getpass.getpass("Repeat: ") != first:
        from app.core.errors import InvalidInput

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
