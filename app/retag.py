"""``newsmon retag``: re-apply the current topic and taxonomy without re-fetching.

Works in id-ordered batches, one transaction each, so it can be interrupted and
rerun; editors' overrides are kept (``ArticleStore.apply_tags``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from rich.progress import Progress, TaskID

from app.ingest import tag_article
from app.store.articles import ArticleStore
from app.store.db import Database
from app.tagging import load_tagger


def retag_all(
    db: Database,
    *,
    batch: int = 1000,
    progress: bool = False,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    tagger = load_tagger()
    with db.read() as session:
        total = ArticleStore(session).count()
    done, last_id = 0, 0
    bar = _bar(total) if progress else None
    try:
        while True:
            with db.read() as session:
                rows = ArticleStore(session).iter_for_retag(after_id=last_id, limit=batch)
            if not rows:
                break
            tags = {
                article_id: tag_article(
                    tagger, title=title, summary_html=summary, text=text, language=language
                )
                for article_id, title, summary, text, language in rows
            }
            with db.write() as session:
                ArticleStore(session).apply_tags(tags, now=datetime.now(UTC))
            last_id = rows[-1][0]
            done += len(rows)
            if bar is not None:
                bar[0].update(bar[1], completed=done)
            if on_batch:
                on_batch(done)
    finally:
        if bar is not None:
            bar[0].stop()
    return done


def _bar(total: int) -> tuple[Progress, TaskID]:
    progress = Progress()
    progress.start()
    return progress, progress.add_task("retagging", total=total)
