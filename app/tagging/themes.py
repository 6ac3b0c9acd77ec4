"""Theme scores from theme hits: weighted, boosted in the lead, damped on repeats.

A theme is "discussed" when its evidence adds up to a threshold: one stray
word in the body never does, a sentence of two or three theme terms or a
strong term in the headline does. Pure; hits come from ``matcher``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import count
from operator import attrgetter, neg, sub

from app.core.types import ThemeTag
from app.tagging.evidence import make_evidence
from app.tagging.matcher import Hit
from app.tagging.taxonomy import THEMES, ThemeParams
from app.tagging.tokens import COMPILED

_ORDER = {"title": 0, "summary": 1, "text": 2}
_SUPPORT_WEIGHT = 1.0


def score_themes(
    hits: Sequence[Hit], params: ThemeParams, explain: bool = True
) -> tuple[tuple[ThemeTag, ...], dict[str, float]]:
    """Tags over their threshold (with evidence) and every theme's score.

    ``hits`` must already be de-duplicated (``strongest_first``). Without
    ``explain`` the tags carry no evidence (the learned layer explains its own).
    """
    by_theme: dict[str, list[Hit]] = {theme: [] for theme in THEMES}
    for hit in hits:
        bucket = by_theme.get(hit.rule.group)
        if bucket is not None:
            bucket.append(hit)
    tags: list[ThemeTag] = []
    scores: dict[str, float] = {}
    for theme in THEMES:
        score, counted = _score(by_theme[theme], params)
        scores[theme] = score
        if score >= params.thresholds[theme]:
            evidence = (
                tuple([make_evidence(h.rule.term, h.field, h.start, h.end) for h in counted])
                if explain
                else ()
            )
            tags.append(ThemeTag(key=theme, score=score, evidence=evidence, origin="tagger"))
    return tuple(tags), scores


def strongest_first(hits: Iterable[Hit]) -> list[Hit]:
    """Hits in reading order, keeping the heaviest of those overlapping in one group.

    "Datensicherheit" matches both ``Datensicherheit`` and ``Sicherheit``, and
    "TikTok Shop" both ``TikTok Shop`` and ``TikTok``: one word of text is one
    piece of evidence for a group.
    """
    hits = list(hits)
    order = _strongest_by_ints(hits) if COMPILED else _strongest_by_tuples(hits)
    kept: list[Hit] = []
    # (group, token index): the index is over all fields, so it names the field too.
    taken: set[tuple[str, int]] = set()
    add, keep = taken.add, kept.append
    for k in order:
        hit = hits[k]
        rule = hit.rule
        # Proximity rules are context on top of a phrase, not a rival reading of it.
        group, first = (rule.group + "~" if rule.near else rule.group), hit.first
        if first == hit.last:
            key = (group, first)
            if key not in taken:
                add(key)
                keep(hit)
            continue
        span = [(group, t) for t in range(first, hit.last + 1)]
        if taken.isdisjoint(span):
            taken.update(span)
            keep(hit)
    kept.sort(key=_reading_order)
    return kept


def _strongest_by_tuples(hits: list[Hit]) -> list[int]:
    """Indices of ``hits``, strongest first: heaviest rule, then longest span, then reading
    order; ties keep their input order. Token indices run over the fields joined in order,
    so ``first`` orders as (field, start) does. The keys are built and compared at C level
    (no Python call per hit): the sources' way."""
    firsts = list(map(_FIRST, hits))
    ranked = sorted(
        zip(
            map(neg, map(_WEIGHT, hits)),
            map(sub, firsts, map(_LAST, hits)),
            firsts,
            count(),
        )
    )
    return [k for _, _, _, k in ranked]


def _strongest_by_ints(hits: list[Hit]) -> list[int]:
    """``_strongest_by_tuples``' order from one integer per hit (the weight's rank, the
    span, the first token and the index in mixed radix): compiled, the keys are native
    arithmetic and the sort compares integers instead of tuples."""
    n = len(hits)
    ranks: dict[float, int] = {}
    width = tokens = 1
    for hit in hits:
        ranks[hit.rule.weight] = 0
        width = max(width, hit.last - hit.first + 1)
        tokens = max(tokens, hit.first + 1)
    for r, weight in enumerate(sorted(ranks, reverse=True)):
        ranks[weight] = r
    keys = [0] * n
    for k in range(n):
        hit = hits[k]
        first = hit.first
        span = width - 1 - (hit.last - first)  # the longest first
        keys[k] = ((ranks[hit.rule.weight] * width + span) * tokens + first) * n + k
    keys.sort()
    return [key % n for key in keys]


_FIRST = attrgetter("first")
_LAST = attrgetter("last")
_WEIGHT = attrgetter("rule.weight")


# Reading order: (field, start, end, group, term). Token indices run over the
# fields joined in order (title, summary, text), so the first token's index
# orders hits as (field, start) does, with a C-level key.
_reading_order = attrgetter("first", "end", "rule.group", "rule.term")


def _pos(hit: Hit) -> tuple[int, int, int]:
    return _ORDER[hit.field], hit.start, hit.end


def _score(hits: Sequence[Hit], params: ThemeParams) -> tuple[float, list[Hit]]:
    """The theme's score and the hits that made it (the evidence shown)."""
    if not hits:
        return 0.0, []
    # Weak words ("price", "data", "risk") only count in a sentence that is
    # already about the theme: alone they are everyday vocabulary.
    supported = {(h.field, h.sentence) for h in hits if h.rule.weight >= _SUPPORT_WEIGHT}
    seen: dict[str, int] = {}
    counted: list[Hit] = []
    total = 0.0
    boosts, decay = params.boosts, params.repeat_decay
    # Hits come in reading order: a term's undamped weight goes to its most
    # prominent use (title, then summary).
    for hit in hits:
        rule = hit.rule
        weight = rule.weight
        if weight < _SUPPORT_WEIGHT and (hit.field, hit.sentence) not in supported:
            continue
        repeats = seen.get(rule.term, 0)
        total += weight * boosts[hit.field] * decay**repeats
        seen[rule.term] = repeats + 1
        counted.append(hit)
    return round(total, 3), counted
