"""story keys: the min-hash keys leave out the names the monitored story's headlines share

Revision ID: 0012_story_keys
Revises: 0011_search_pending
Create Date: 2026-12-06 21:00:00

An article's story-cluster look-up keys (``band0..band3``) are three single-word
min-hashes of its headline and one hash of the whole headline. The min-hashes are now
drawn from the headline's words other than the story's names ("Amazon", "TikTok",
"ByteDance": ``fingerprint.KEY_STOP``), which nearly every headline carries: a key on one
of them was shared by the whole day's coverage and its capped look-up found only the
newest articles (docs/decisions.md, "Ingest, stop 41").

New articles get the new keys from the parse workers. This migration gives the stored
articles the same ones, computed from their stored headline as ingest computes them
(``decide.story_bands``), so a copy that arrives after the upgrade still finds an original
stored before it. Only rows whose keys change are written (headlines without the names
keep theirs). The downgrade writes the keys of the previous scheme back. Derived data,
computed with the code's own functions rather than a frozen copy: a later change to the
keys needs a migration of its own, as this one is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

from app.core.decide import STORY_BANDS, story_bands
from app.core.fingerprint import minhash_bands, title_terms

revision = "0012_story_keys"
down_revision = "0011_search_pending"
branch_labels = None
depends_on = None

BATCH = 5_000  # articles read and re-keyed at a time


def _previous_keys(title: str) -> tuple[int, ...]:
    """``story_bands`` as migration 0011's code computed them: every word min-hashed."""
    terms = title_terms(title)
    if not terms:
        return ()
    digest = hashlib.blake2b(" ".join(sorted(terms)).encode(), digest_size=4).digest()
    keys = (*minhash_bands(terms, count=3, rows=1), int.from_bytes(digest, "big", signed=True))
    return keys if len(keys) == STORY_BANDS else ()


def _rekey(keys_of: Callable[[str], tuple[int, ...]]) -> None:
    bind = op.get_bind()
    select = sa.text(
        "SELECT id, title, band0, band1, band2, band3 FROM article "
        "WHERE id > :after ORDER BY id LIMIT :n"
    )
    update = sa.text(
        "UPDATE article SET band0 = :b0, band1 = :b1, band2 = :b2, band3 = :b3 WHERE id = :id"
    )
    after = 0
    while True:
        rows = bind.execute(select, {"after": after, "n": BATCH}).all()
        if not rows:
            return
        changed = []
        for ident, title, *stored in rows:
            keys = keys_of(title) or (None, None, None, None)
            if tuple(stored) != tuple(keys):
                changed.append({"id": ident, **{f"b{k}": v for k, v in enumerate(keys)}})
        if changed:
            bind.execute(update, changed)
        after = rows[-1][0]


def upgrade() -> None:
    _rekey(story_bands)


def downgrade() -> None:
    _rekey(_previous_keys)
