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
