"""Links into newsmon for messages (the signed unsubscribe links are in
``app.alerts.unsubscribe``)."""

from __future__ import annotations


def article_url(base: str, article_id: int) -> str:
    return f"{base.rstrip('/')}/articles/{article_id}"


def view_url(base: str, query: str) -> str:
    return f"{base.rstrip('/')}/?{query}" if query else f"{base.rstrip('/')}/"
