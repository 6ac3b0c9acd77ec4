"""``newsmon tokens``: create, list and revoke API tokens."""

from __future__ import annotations

import argparse

from app.cli.common import Subparsers, open_db
from app.config import Settings
from app.core.errors import PermissionDenied


def register(sub: Subparsers) -> None:
    tokens = sub.add_parser("tokens", help="manage API tokens").add_subparsers(metavar="ACTION")
    create = tokens.add_parser("create", help="create a token; prints it alone on the last line")
    create.add_argument("--user", required=True)
    create.add_argument("--scope", choices=("read", "write"), default="read")
    create.add_argument("--name", default="")
    create.set_defaults(handler=cmd_tokens_create)
    tokens.add_parser("list", help="tokens (never their values)").set_defaults(
        handler=cmd_tokens_list
    )
    revoke = tokens.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(handler=cmd_tokens_revoke)


def cmd_tokens_create(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from app.store.audit import AuditStore
    from app.store.users import UserStore

    now = datetime.now(UTC)
    with open_db(settings).write() as session:
        store = UserStore(session)
        user = store.find(args.user)
        if args.scope == "write" and not user.has_role("editor"):
            # the same rule as the /account form: a viewer's token may only read
            raise PermissionDenied(
                f"{user.name} is a {user.role}: write tokens need the editor role"
            )
        token, raw = store.create_token(user.id, args.scope, name=args.name, now=now)
        AuditStore(session).record(
            "token.create", now=now, target_type="token", target_id=token.id, detail={"via": "cli"}
        )
    print(f"token {token.id} for {user.name}, scope {token.scope}; shown only now:")
    print(raw)
    return 0


def cmd_tokens_list(args: argparse.Namespace, settings: Settings) -> int:
    from app.store.users import UserStore

    with open_db(settings).read() as session:
        tokens = UserStore(session).tokens()
    for t in tokens:
        used = t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "never"
        state = "revoked" if t.revoked_at else "active"
        print(f"{t.id:>4}  {t.user_name:<16} {t.scope:<5} {state:<7} used {used:<16} {t.name}")
    return 0


def cmd_tokens_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC, datetime

    from app.store.audit import AuditStore
    from app.store.users import UserStore

    now = datetime.now(UTC)
    with open_db(settings).write() as session:
        UserStore(session).revoke_token(args.id, now=now)
        AuditStore(session).record(
            "token.revoke", now=now, target_type="token", target_id=args.id, detail={"via": "cli"}
        )
    print(f"revoked token {args.id}")
    return 0
