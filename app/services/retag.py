"""``newsmon retag``: re-apply the current topic and taxonomy without re-fetching.

Works in id-ordered batches, one transaction each, so it can be interrupted and
rerun; editors' overrides are kept (``ArticleStore.apply_tags``).

Tagging is CPU-bound pure Python and most of the work. With ``workers`` > 1
the batches are tagged in worker processes while this process reads the next
batches and writes the finished ones, in id order: the database sees one
writer and the same transactions as the sequential path. It is off by
default: each spawned worker pays ~3 s CPU to import and load the models, and
on a busy shared 2-CPU machine (``bench/bench_retag.py``) it cost more CPU in
total and more wall time than tagging in this process.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import UTC, datetime
from multiprocessing import get_context

from rich.progress import Progress, TaskID

from app.core.decide import Tags
from app.store.articles import ArticleStore
from app.store.db import Database
from app.tagging import load_tagger
from app.tagging.apply import tag_article

Row = tuple[int, str, str, str, str | None]
# Below this many batches, starting worker processes costs more than it saves.
_MIN_PARALLEL_BATCHES = 4


def retag_all(
    db: Database,
    *,
    batch: int = 1000,
    progress: bool = False,
    on_batch: Callable[[int], None] | None = None,
    workers: int = 0,
) -> int:
    """Re-tag every stored article; returns how many. ``workers``: tagging
    processes (0 or 1: tag in this process; capped at the available CPUs)."""
    with db.read() as session:
        total = ArticleStore(session).count()
    workers = min(workers, _cpus())
    if total < _MIN_PARALLEL_BATCHES * batch:
        workers = 0
    done = 0
    bar = _bar(total) if progress else None
    try:
        for tags in _tagged_batches(db, batch, workers):
            with db.write() as session:
                ArticleStore(session).apply_tags(tags, now=datetime.now(UTC))
            done += len(tags)
            if bar is not None:
                bar[0].update(bar[1], completed=done)
            if on_batch:
                on_batch(done)
    finally:
        if bar is not None:
            bar[0].stop()
    return done


def tag_rows(rows: Sequence[Row]) -> dict[int, Tags]:
    """Tags of stored rows ``(id, title, summary HTML, text, language)``."""
    tagger = load_tagger()
    return {
        article_id: tag_article(
            tagger, title=title, summary_html=summary, text=text, language=language
        )
        for article_id, title, summary, text, language in rows
    }


def _batches(db: Database, batch: int) -> Iterator[list[Row]]:
    last_id = 0
    while True:
        with db.read() as session:
            rows = ArticleStore(session).iter_for_retag(after_id=last_id, limit=batch)
        if not rows:
            return
        yield [tuple(r) for r in rows]  # type: ignore[misc]
        last_id = rows[-1][0]


def _tagged_batches(db: Database, batch: int, workers: int) -> Iterator[dict[int, Tags]]:
    if workers <= 1:
        for rows in _batches(db, batch):
            yield tag_rows(rows)
        return
    # "spawn": the parent holds database connections (and maybe a progress
    # thread), which a forked child must not inherit.
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        pending: deque[Future[dict[int, Tags]]] = deque()
        for rows in _batches(db, batch):
            pending.append(pool.submit(tag_rows, rows))
            # Keep every worker busy and one batch queued; write in id order.
            if len(pending) > workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()


def _cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _bar(total: int) -> tuple[Progress, TaskID]:
    progress = Progress()
    progress.start()
    return progress, progress.add_task("retagging", total=total)
