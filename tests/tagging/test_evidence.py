"""``make_evidence`` makes the very object ``Evidence(...)`` makes."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from app.core.types import Evidence
from app.tagging.evidence import make_evidence


def test_make_evidence_is_evidence() -> None:
    fast, slow = make_evidence("Sicherheit", "text", 4, 14), Evidence("Sicherheit", "text", 4, 14)
    assert type(fast) is Evidence
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    assert dataclasses.asdict(fast) == dataclasses.asdict(slow)
    assert pickle.loads(pickle.dumps(fast)) == slow
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.start = 5  # type: ignore[misc]
    assert make_evidence is not Evidence  # the fast path is in use
