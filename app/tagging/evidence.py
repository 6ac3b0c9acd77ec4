"""``make_evidence``: an ``Evidence`` without the frozen dataclass's ``__init__``.

A frozen dataclass sets each field through ``object.__setattr__`` in a Python
``__init__``, about 0.9 µs per object; the tagger builds some thirty per
article. ``Evidence`` has slots and nothing but its four fields (no defaults,
no ``__post_init__``), so filling the slots directly makes the same object
(equal, same hash and repr) in a third of the time. If ``Evidence`` ever
grows more than that, the plain constructor is used instead.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from app.core.types import Evidence

_FIELDS = ("term", "field", "start", "end")


def _slot_filler() -> Callable[[str, str, int, int], Evidence] | None:
    fields = dataclasses.fields(Evidence)
    if (
        tuple(f.name for f in fields) != _FIELDS
        or getattr(Evidence, "__slots__", None) != _FIELDS
        or hasattr(Evidence, "__post_init__")
        or any(f.default is not dataclasses.MISSING for f in fields)
        or any(f.default_factory is not dataclasses.MISSING for f in fields)
    ):
        return None
    new = object.__new__
    slots = vars(Evidence)  # the member descriptors, which write past ``__setattr__``
    set_term, set_field = slots["term"].__set__, slots["field"].__set__
    set_start, set_end = slots["start"].__set__, slots["end"].__set__

    def make(term: str, field: str, start: int, end: int) -> Evidence:
        evidence = new(Evidence)
        set_term(evidence, term)
        set_field(evidence, field)
        set_start(evidence, start)
        set_end(evidence, end)
        return evidence

    return make


make_evidence: Callable[[str, str, int, int], Evidence] = _slot_filler() or Evidence
