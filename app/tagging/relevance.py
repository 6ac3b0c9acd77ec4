"""Is the article about the Amazon–TikTok relationship? A pure, sentence-level score.

What counts is co-occurrence where it means something: both companies in one
sentence together with a relationship word ("partnership", "Kooperation",
"rachat"). Names in a list of firms, names without any relationship word and
rivalry talk do not make an article relevant, however often they appear.
This module does not read text or rules; it scores hits ``matcher`` found.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import attrgetter

from app.core.types import Evidence
from app.tagging.evidence import make_evidence
from app.tagging.matcher import Hit
from app.tagging.taxonomy import RelevanceParams

ENTITIES = ("amazon", "tiktok")
_GROUP = attrgetter("rule.group")  # a C-level getter: the groups of many hits
_LABELS = {"amazon": "Amazon", "tiktok": "TikTok"}
_STRONG_CUE = 2.0
_ENTITY_SET = frozenset(ENTITIES)
_BOTH, _NONE = _ENTITY_SET, frozenset[str]()
_AMAZON, _TIKTOK = frozenset({"amazon"}), frozenset({"tiktok"})
_ORDER = {"title": 0, "summary": 1, "text": 2}
_REFS = {"ref:amazon": "amazon", "ref:tiktok": "tiktok"}


class _Sentence:
    __slots__ = ("compete", "context", "cues", "field", "mentions", "pair", "present")

    def __init__(self, field: str, context: tuple[str, int]) -> None:
        self.field = field
        self.context = context  # lead, or the body paragraph it sits in
        self.mentions: dict[str, list[Hit]] = {"amazon": [], "tiktok": []}
        self.pair: list[Hit] = []
        self.cues: list[Hit] = []
        self.compete = False
        self.present: frozenset[str] = frozenset()  # entities named (set by _context_entities)

    def usable_cues(self) -> list[Hit]:
        if self.compete:  # rivals: only an explicit relationship word counts
            return [c for c in self.cues if c.rule.weight >= _STRONG_CUE]
        return self.cues


@dataclass(frozen=True, slots=True)
class Relevance:
    relevant: bool
    score: float
    reason: str
    evidence: tuple[Evidence, ...]


def score_relevance(
    hits: Sequence[Hit], params: RelevanceParams, explain: bool = True
) -> Relevance:
    """Relevance of an article from its (vetoed, de-duplicated) topic hits.

    Without ``explain`` the reason and evidence stay empty (the learned layer
    explains its own decision)."""
    if not set(map(_GROUP, hits)) >= _ENTITY_SET:
        return Relevance(False, 0.0, _reason(hits, [], False, 0.0), ())
    sentences = _sentences(hits, params.list_window)
    contexts = _context_entities(sentences.values())
    both_named = set().union(*contexts.values()) >= set(ENTITIES) if contexts else False
    body = 0.0
    lead = 0.0
    kinds: list[tuple[str, _Sentence]] = []
    for sent in sentences.values():
        kind = _kind(sent, contexts, both_named)
        if kind is None:
            continue
        kinds.append((kind, sent))
        points = params.points[sent.field][kind]
        if sent.field == "text":
            body += points
        else:
            lead += points
    score = round(lead + min(body, params.body_cap), 3)
    strong = [s for k, s in kinds if k == "strong"]
    relevant = score >= params.threshold and bool(strong)
    if not explain:
        return Relevance(relevant, score, "", ())
    reason = _reason(hits, kinds, relevant, score)
    return Relevance(relevant, score, reason, _evidence(kinds))


def _sentences(hits: Sequence[Hit], window: int) -> dict[tuple[str, int], _Sentence]:
    others = [h for h in hits if h.rule.group == "other"]
    named = set(map(_GROUP, hits)) & _ENTITY_SET
    out: dict[tuple[str, int], _Sentence] = {}
    for hit in hits:
        key = (hit.field, hit.sentence)
        sent = out.get(key)
        if sent is None:
            context = ("lead", 0) if hit.field != "text" else ("text", hit.paragraph)
            sent = out[key] = _Sentence(hit.field, context)
        group = hit.rule.group
        if group in _ENTITY_SET and not (others and _listed(hit, others, window)):
            sent.mentions[group].append(hit)
        elif group in _REFS:
            # "the Seattle retailer" is Amazon in an article that names Amazon.
            entity = _REFS[group]
            if entity in named:
                sent.mentions[entity].append(hit)
        elif group == "pair":
            sent.pair.append(hit)
        elif group == "cue":
            sent.cues.append(hit)
        elif group == "compete":
            sent.compete = True
    return out


def _listed(hit: Hit, others: Iterable[Hit], window: int) -> bool:
    """A mention next to another firm's name is an item in a list of firms."""
    return any(
        o.field == hit.field
        and o.sentence == hit.sentence
        and (0 <= o.first - hit.last <= window or 0 <= hit.first - o.last <= window)
        for o in others
    )


def _context_entities(sentences: Iterable[_Sentence]) -> dict[tuple[str, int], set[str]]:
    found: dict[tuple[str, int], set[str]] = {}
    for sent in sentences:
        mentions = sent.mentions
        if mentions["amazon"]:
            names = _BOTH if mentions["tiktok"] else _AMAZON
        else:
            names = _TIKTOK if mentions["tiktok"] else _NONE
        sent.present = names
        found.setdefault(sent.context, set()).update(names)
    return found


def _kind(
    sent: _Sentence, contexts: dict[tuple[str, int], set[str]], both_named: bool
) -> str | None:
    present = sent.present  # set by _context_entities
    # "the two companies" stands for the pair only where both are named somewhere.
    both = len(present) == 2 or (bool(sent.pair) and both_named)
    cues = sent.usable_cues()
    if both:
        return "strong" if cues else "pair"
    if present and cues and contexts.get(sent.context, _NONE) >= _ENTITY_SET:
        return "half"
    return None


def _reason(hits: Sequence[Hit], kinds: list[tuple[str, _Sentence]], ok: bool, score: float) -> str:
    amazon = tiktok = 0
    for h in hits:
        group = h.rule.group
        if group == "amazon":
            amazon += 1
        elif group == "tiktok":
            tiktok += 1
    counts = {"amazon": amazon, "tiktok": tiktok}
    named = ", ".join(f"{_LABELS[e]} ×{counts[e]}" for e in ENTITIES if counts[e])
    if not named:
        return "neither Amazon nor TikTok is named"
    if not (amazon and tiktok):
        return f"only {named}: one company is not a relationship"
    strong = [s for k, s in kinds if k == "strong"]
    if not strong:
        paired = any(k == "pair" for k, _ in kinds)
        why = "named together without a relationship word" if paired else "never in one sentence"
        return f"{named}, {why} (score {score:g})"
    cue_words = sorted({c.rule.term for s in strong for c in s.usable_cues()})
    where = sorted({s.field for s in strong}, key=("title", "summary", "text").index)
    verdict = "" if ok else f"; below threshold (score {score:g})"
    return (
        f"{named}; {len(strong)} sentence(s) pair them with "
        + ", ".join(f"'{w}'" for w in cue_words[:4])
        + f" in {'/'.join(where)}{verdict}"
    )


def _evidence(kinds: list[tuple[str, _Sentence]]) -> tuple[Evidence, ...]:
    # De-duplicated and sorted as plain tuples; one Evidence per distinct span.
    found: set[tuple[int, int, int, str, str]] = set()
    add = found.add
    for kind, sent in kinds:
        if kind == "pair":
            continue
        for hit in (
            *sent.mentions["amazon"],
            *sent.mentions["tiktok"],
            *sent.pair,
            *sent.usable_cues(),
        ):
            add((_ORDER[hit.field], hit.start, hit.end, hit.rule.term, hit.field))
    return tuple(
        [make_evidence(term, fld, start, end) for _, start, end, term, fld in sorted(found)]
    )
