"""Full text as a use case the command line and the web share: a feed's policy.

``set_feed_policy`` changes whether a feed's article pages are fetched (``auto``,
``always``, ``never``, or ``None`` for the setting's default) and audits the change
in the same transaction. Articles already queued keep their place; the policy
applies to articles that arrive from now on.
"""

from __future__ import annotations

from datetime import UTC, datetime

from app.core.errors import InvalidInput
from app.core.pages import POLICIES
from app.store.audit import AuditStore
from app.store.db import Database
from app.store.extraction import ExtractionStore
from app.store.feeds import FeedStore, FeedView


def set_feed_policy(
    db: Database, feed: int | str, policy: str | None, *, user_id: int | None = None
) -> FeedView:
    """Set the feed's full-text policy, by id or URL; ``user_id`` None: the command line."""
    if policy is not None and policy not in POLICIES:
        raise InvalidInput(f"policy must be one of {', '.join(POLICIES)}", field="policy")
    now = datetime.now(UTC)
    with db.write() as session:
        feeds = FeedStore(session)
        before = feeds.get(feed) if isinstance(feed, int) else feeds.find(feed)
        ExtractionStore(session).set_policy(before.id, policy)
        AuditStore(session).record(
            "feed.fulltext",
            now=now,
            user_id=user_id,
            target_type="feed",
            target_id=before.id,
            detail={"url": before.url, "was": before.fulltext_policy, "now": policy},
        )
        session.flush()
        session.expire_all()
        return feeds.get(before.id)
