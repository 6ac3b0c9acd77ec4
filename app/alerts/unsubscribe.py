"""Signed one-click unsubscribe links (RFC 8058) for alert and digest e-mails.

A token names what it stops (``r<rule id>`` or ``d<user id>``) and carries an
HMAC-SHA256 under the app's ``secret_key`` over that and the address it was sent
to. The web checks the signature against the rule's (or digest's) *current*
address: a link from before the address changed stops nothing. Tokens do not
expire: an unsubscribe link must keep working in an old e-mail.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from app.store.tables import AlertRule, DigestSetting, SavedView

_TOKEN = re.compile(r"^(?P<kind>[rd])(?P<id>[1-9][0-9]{0,9})\.(?P<sig>[0-9a-f]{32})$")


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    kind: str  # "rule" | "digest"
    id: int  # the rule's id or the digest's user id
    signature: str


def _signature(secret: str, kind: str, ident: int, address: str) -> str:
    message = f"newsmon-unsubscribe:{kind}:{ident}:{address.strip().lower()}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()[:32]


def make_token(secret: str, kind: str, ident: int, address: str) -> str:
    letter = {"rule": "r", "digest": "d"}[kind]
    return f"{letter}{ident}.{_signature(secret, kind, ident, address)}"


def parse_token(token: str) -> Unsubscribe | None:
    """The token's parts if it is well formed (not yet verified), else None."""
    m = _TOKEN.match(token)
    if m is None:
        return None
    kind = "rule" if m["kind"] == "r" else "digest"
    return Unsubscribe(kind, int(m["id"]), m["sig"])


def verify(secret: str, token: Unsubscribe, address: str) -> bool:
    expected = _signature(secret, token.kind, token.id, address)
    return hmac.compare_digest(expected, token.signature)


def unsubscribe_url(base: str, secret: str, kind: str, ident: int, address: str) -> str:
    return f"{base.rstrip('/')}/unsubscribe/{make_token(secret, kind, ident, address)}"


@dataclass(frozen=True, slots=True)
class Subscription:
    """What a valid token stops, for the confirm page."""

    kind: str  # rule | digest
    id: int
    address: str
    label: str  # the view's name (rule) or "" (digest)
    active: bool


def find(session: Session, secret: str, token: str) -> Subscription | None:
    """The rule or digest a token names, if its signature holds for the address the
    rule or digest sends to now; else None (unknown, forged, or the address changed)."""
    parsed = parse_token(token)
    if parsed is None:
        return None
    if parsed.kind == "rule":
        row = session.get(AlertRule, parsed.id)
        if row is None or row.channel != "email" or not verify(secret, parsed, row.target):
            return None
        view = session.get(SavedView, row.view_id)
        return Subscription("rule", row.id, row.target, view.name if view else "", row.enabled)
    digest = session.get(DigestSetting, parsed.id)
    if digest is None or not verify(secret, parsed, digest.email):
        return None
    return Subscription("digest", digest.user_id, digest.email, "", digest.enabled)


def apply(session: Session, secret: str, token: str, *, now: datetime) -> Subscription | None:
    """Stop what the token names (idempotent); None when the token is not valid."""
    found = find(session, secret, token)
    if found is None:
        return None
    if found.kind == "rule":
        session.execute(
            update(AlertRule)
            .where(AlertRule.id == found.id, AlertRule.enabled.is_(True))
            .values(
                enabled=False,
                disabled_reason=f"unsubscribed by {found.address} from an e-mail's link",
                updated_at=now,
            )
        )
    else:
        session.execute(
            update(DigestSetting)
            .where(DigestSetting.user_id == found.id)
            .values(enabled=False, updated_at=now)
        )
    return Subscription(found.kind, found.id, found.address, found.label, False)
