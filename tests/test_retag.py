"""``retag_all``: worker processes tag exactly what the sequential path tags."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from app.services.retag import retag_all
from app.store.db import Database
from app.store.tables import Article, ArticleTheme
from bench.bench_retag import fill

N = 70  # the whole dev set and then some, in 14 batches


def _state(db: Database) -> tuple[list[Any], list[Any]]:
    with db.read() as session:
        articles = session.execute(
            select(
                Article.id,
                Article.language,
                Article.relevant,
                Article.relevance_score,
                Article.relevance_reason,
                Article.relevance_evidence,
                Article.theme_mask,
                Article.theme_scores,
                Article.tag_version,
            ).order_by(Article.id)
        ).all()
        themes = session.execute(
            select(
                ArticleTheme.article_id,
                ArticleTheme.theme,
                ArticleTheme.score,
                ArticleTheme.evidence,
                ArticleTheme.origin,
                ArticleTheme.tag_version,
            ).order_by(ArticleTheme.article_id, ArticleTheme.theme)
        ).all()
    return [tuple(r) for r in articles], [tuple(r) for r in themes]


def test_parallel_retag_equals_sequential(db: Database) -> None:
    fill(db, N)
    progress: list[int] = []
    assert retag_all(db, batch=5, workers=2, on_batch=progress.append) == N
    assert progress == list(range(5, N + 1, 5))
    parallel = _state(db)
    assert all(row[-1] for row in parallel[0])  # every article got a tag version
    assert any(row[2] for row in parallel[0]) and parallel[1]
    assert retag_all(db, batch=5, workers=0) == N
    assert _state(db) == parallel
