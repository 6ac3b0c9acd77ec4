"""Links into newsmon for messages, and signed one-click unsubscribe tokens.

``unsubscribe_token(rule_id, secret_key)`` is an HMAC of the rule id with a key derived
from the app's secret: ``/alerts/unsubscribe?rule=<id>&token=<token>`` (served by the
web part) turns the rule off without a sign-in. ``verify_unsubscribe`` checks it.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlencode


def unsubscribe_token(rule_id: int, secret_key: str) -> str:
    key = hmac.new(secret_key.encode(), b"newsmon-unsubscribe", hashlib.sha256).digest()
    return hmac.new(key, f"rule:{rule_id}".encode(), hashlib.sha256).hexdigest()[:32]


def verify_unsubscribe(rule_id: int, token: str, secret_key: str) -> bool:
    return hmac.compare_digest(unsubscribe_token(rule_id, secret_key), token)


def unsubscribe_url(base: str, rule_id: int, secret_key: str) -> str:
    query = urlencode({"rule": rule_id, "token": unsubscribe_token(rule_id, secret_key)})
    return f"{base.rstrip('/')}/alerts/unsubscribe?{query}"


def article_url(base: str, article_id: int) -> str:
    return f"{base.rstrip('/')}/articles/{article_id}"


def view_url(base: str, query: str) -> str:
    return f"{base.rstrip('/')}/?{query}" if query else f"{base.rstrip('/')}/"
