"""A tagged draft's values in the form SQLite stores them, computed where it was tagged.

The poller's parse workers tag the drafts; beside each they now also encode what its
article and theme rows store as text: the JSON of the evidence and theme scores, the
publication time, and the story window's two ends that clustering compares as text.
The single writer (the poller's main process, whose per-entry CPU is the serial part
of ingest: issue 16) binds them as they are instead of building them for every row.
The tree's CPU is about the same; the serial writer's share shrinks.

``StoredForm`` (``app.core.decide``, beside the draft) is dialect-specific (SQLite's
text stamps, JSON as text), so only the SQLite writes use it; PostgreSQL binds the
tags through SQLAlchemy as before, and its poller asks the workers for none. On SQLite
the writer encodes a draft that came without one (built in a test or by another caller)
itself: one encoding of SQLite's row, wherever it runs. ``tests/store/test_stored_form.py``
holds it to what SQLAlchemy binds, and worker-encoded and writer-encoded drafts to the
same rows.

Nothing here imports SQLAlchemy: the parse workers load this module.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import timedelta
from json.encoder import encode_basestring_ascii
from typing import TYPE_CHECKING, Any

from app.core.decide import ArticleDraft, StoredForm
from app.core.timeline import THEME_BITS
from app.store.sqlite_file import naive_stamp, naive_utc

if TYPE_CHECKING:
    from app.core.types import Evidence

# Copies appear within hours of each other; a wider window only admits more
# look-alikes from templated wire copy (measured by ``python -m bench clusters``).
CLUSTER_WINDOW = timedelta(hours=16)

# json.dumps' defaults (what SQLAlchemy's JSON type stores), without its per-call checks
dumps = json.JSONEncoder().encode


def evidence_json(e: Evidence) -> dict[str, Any]:
    return {"term": e.term, "field": e.field, "start": e.start, "end": e.end}


def evidence_list_json(evidence: Sequence[Evidence]) -> str:
    """``dumps([evidence_json(e) for e in evidence])``, written out: the same text (the
    C quoting ``json.dumps`` uses, its default separators, offsets as ints) at a third
    of the cost, with no dict built per item (~5 items an article on the peer corpus).
    ``tests/store/test_stored_form.py`` holds the two equal on every labelled article."""
    if not evidence:
        return "[]"
    quote = encode_basestring_ascii
    return (
        "["
        + ", ".join(
            [
                f'{{"term": {quote(e.term)}, "field": {quote(e.field)}, '
                f'"start": {e.start:d}, "end": {e.end:d}}}'
                for e in evidence
            ]
        )
        + "]"
    )


def stored_form(draft: ArticleDraft) -> StoredForm:
    tags = draft.tags
    published = draft.published_at
    naive = naive_utc(published)  # converted once for the time and the window's two ends
    return StoredForm(
        naive_stamp(naive),
        (naive_stamp(naive - CLUSTER_WINDOW), naive_stamp(naive + CLUSTER_WINDOW)),
        evidence_list_json(tags.relevance_evidence),
        dumps(dict(tags.theme_scores)),
        sum(THEME_BITS.get(t.key, 0) for t in tags.themes),
        tuple((t.key, t.score, evidence_list_json(t.evidence)) for t in tags.themes),
    )


def with_stored_form(draft: ArticleDraft) -> ArticleDraft:
    """``draft``, just built and not yet shared, with its ``stored`` values set.

    ``stored`` is not an ``__init__`` field: ``with_tags`` and ``dataclasses.replace``
    make drafts without one, so a changed draft never carries values of its old self."""
    object.__setattr__(draft, "stored", stored_form(draft))
    return draft
