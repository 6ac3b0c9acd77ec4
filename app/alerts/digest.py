"""Digest e-mails (daily or weekly per user). The alerts-ui part implements this module.

Contract with the runner (``app.alerts.runner``), which calls it every pass:

    send_due(session_factory, settings, now) -> int

``session_factory``: ``app.store.db.Database`` (``.write()`` / ``.read()`` context
managers giving a ``Session``); ``settings``: ``app.config.Settings``; ``now``: an aware
UTC datetime. It sends the digests whose local time has come (``DigestStore``), and
returns how many it sent. At most once per user and period: enqueue an ``OutboxItem``
(``rule_id=None, user_id=..., channel="email", kind="digest",
subject_key="d:<period>"``) with ``OutboxStore.enqueue`` first; the unique index
decides who sends. It must not raise for one user's failure. The runner calls it in a
worker thread (blocking calls are fine: ``app.alerts.smtp.send_sync`` sends a message,
``build`` helpers may query freely), at most every 30 s, from every poller process:
the outbox's unique key is what keeps a digest single.
"""

from __future__ import annotations

from datetime import datetime

from app.config import Settings
from app.store.db import Database


def send_due(session_factory: Database, settings: Settings, now: datetime) -> int:
    """Nothing yet: the alerts-ui part replaces this."""
    return 0
