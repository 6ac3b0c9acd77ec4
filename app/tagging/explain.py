"""Decisions of the learned layer, explained by the phrases that weighed most.

A reason reads "relevant (probability 0.93): s1; s2" or "not relevant
(probability 0.04), against: s1; s2": each statement one of the fixed English
phrases in ``PHRASES`` (the web translates them, app/web/reasons.py; the
German catalogue must cover ``REASON_KEYS``), optionally followed by the
article's own words in quotes. No rule syntax
("!brands", "link ~3 account") ever reaches a reader: evidence terms are the
text the rule matched, cut from the article.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import TYPE_CHECKING

from app.core.types import Evidence, ThemeTag
from app.tagging.evidence import make_evidence
from app.tagging.matcher import Hit
from app.tagging.taxonomy import THEMES

if TYPE_CHECKING:
    from app.tagging.model import Model
    from app.tagging.result import Analysis, TagResult

_TOP = 3  # statements in a reason
_SPANS = 8  # evidence spans per decision
_WORDS = 3  # words (of the learned vocabulary) named in a reason
_RANKED = 12  # strongest features considered
_PER_FEATURE = 3  # spans one feature adds (so that several reasons show)

# Feature -> what it means, in words (feature names: app/tagging/features.py).
PHRASES: dict[str, str] = {
    "rule_relevant": "the topic rules match",
    "rule_score": "the topic rules' score",
    "named_both": "both companies are named",
    "sent_both": "both companies in one sentence",
    "both_cue_lead": "both companies and a cooperation word in the headline or lead",
    "both_cue_body": "both companies and a cooperation word in one sentence",
    "both_compete": "the companies appear as rivals",
    "entity_compete": "rivalry wording",
    "para_both": "both companies in one paragraph",
    "para_both_cue": "both companies and a cooperation word in one paragraph",
    "lead_both": "both companies in the headline or lead",
    "title_both": "both companies in the headline",
    "cue_strong": "cooperation words",
    "cue_medium": "commerce words",
    "compete": "rivalry wording",
    "other": "other firms named",
    "ref": "a company referred to by description",
    "amazon": "Amazon is named",
    "tiktok": "TikTok is named",
    "title_amazon": "Amazon in the headline",
    "title_tiktok": "TikTok in the headline",
    "form_headline": "headline-only item",
    "form_short": "short item",
    "word": "the wording",
    **{f"headline_{n}": "in the headline" for n in ("rule_relevant", "title_both", "cue_strong")},
    "headline_compete": "rivalry wording in the headline",
    **{f"{t}_{k}": f"{t} terms" for t in THEMES for k in ("score", "pass", "sentences")},
    **{f"{t}_lead": f"{t} terms in the headline or lead" for t in THEMES},
    **{f"{t}_strong": f"strong {t} terms" for t in THEMES},
    **{f"{t}_about": f"a sentence about {t}" for t in THEMES},
    **{f"headline_{t}": f"{t} terms in the headline" for t in THEMES},
    "relevant": "relevant",
    "not relevant": "not relevant",
    "probability": "probability",
    "against": "against",
    "no_cooperation": "no cooperation between the two companies found",
}
# Phrases a reason can contain (the web's message catalogue translates these).
REASON_KEYS = frozenset(PHRASES.values())


def readable(evidence: Iterable[Evidence], fields: Mapping[str, str]) -> tuple[Evidence, ...]:
    """Evidence whose ``term`` a reader understands (see ``term_of``)."""
    return tuple(
        make_evidence(_readable(e.term, fields[e.field][e.start : e.end]), e.field, e.start, e.end)
        for e in evidence
    )


def term_of(hit: Hit, fields: Mapping[str, str]) -> str:
    return _readable(hit.rule.term, fields[hit.field][hit.start : hit.end])


def _readable(term: str, surface: str) -> str:
    """A plain rule term ("Sicherheit" in "Datensicherheit") says which part counted;
    one with rule syntax ("link ~3 account", "!brands") is replaced by the text itself."""
    syntax = _HAS_SYNTAX.get(term)
    if syntax is None:
        syntax = _HAS_SYNTAX[term] = bool(_SYNTAX.search(term))
    return surface if syntax else term


_SYNTAX = re.compile(r"[~!=*]")
_HAS_SYNTAX: dict[str, bool] = {}  # per rule term (a few thousand)


def decide(model: Model, found: Analysis, version: str) -> TagResult:
    from app.tagging.result import TagResult

    known = model.known(found.features)  # the vocabulary intersected once per article
    probs = model.scores(found.features, known)
    p_rel = probs["relevance"]
    relevant = p_rel >= model.targets["relevance"].threshold
    spans, reason = _explain(model, "relevance", found, relevant, known)
    verdict = PHRASES["relevant" if relevant else "not relevant"]
    themes = []
    scores = {}
    for theme in THEMES:
        p = round(probs[theme], 4)
        scores[theme] = p
        if p >= model.targets[theme].threshold:
            evidence, _ = _explain(model, theme, found, True, known, reason=False)
            themes.append(ThemeTag(key=theme, score=p, evidence=evidence, origin="tagger"))
    return TagResult(
        language=found.language,
        relevant=relevant,
        relevance_score=round(p_rel, 4),
        relevance_reason=f"{verdict} ({PHRASES['probability']} {p_rel:.2f})"
        + ("" if relevant else ", " + PHRASES["against"])
        + f": {reason}",
        relevance_evidence=spans,
        themes=tuple(themes),
        theme_scores=scores,
        version=version,
    )


class _Allowed(dict[str, bool]):
    """Which features may explain ``target`` (memoised: feature names are few)."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def __missing__(self, name: str) -> bool:
        if self.target in THEMES:
            ok = name.startswith((self.target, "headline_" + self.target))
        else:
            ok = not name.startswith(_THEME_PREFIXES)
        self[name] = ok
        return ok


_THEME_PREFIXES = tuple(THEMES) + tuple(f"headline_{t}" for t in THEMES)
_ALLOWED = {t: _Allowed(t).__getitem__ for t in ("relevance", *THEMES)}
# What may be named against relevance: things that speak against it in their own
# right. "Amazon is named" can carry a negative weight next to its correlates,
# but "not relevant because Amazon is named" would mislead a reader.
_AGAINST = frozenset(
    {"other", "compete", "entity_compete", "both_compete", "form_headline", "form_short"}
)


def _explain(
    model: Model,
    target: str,
    found: Analysis,
    positive: bool,
    known: frozenset[str],
    *,
    reason: bool = True,
) -> tuple[tuple[Evidence, ...], str]:
    """Spans and statements of the features that pushed hardest toward the decision.

    Relevance is explained by topic features and words, a theme by its own terms
    and words: a theme's probability may lean on relevance features, but "Amazon"
    is no evidence of a security discussion. Without ``reason`` the statements are
    not written (a theme keeps only its evidence) and "" is returned for them."""
    f = found.features
    allowed = _ALLOWED[target] if positive else _AGAINST.__contains__
    sign = 1 if positive else -1
    ranked = model.contributions(target, f, allowed, top=_RANKED, sign=sign, known=known)
    fields = found.fields
    statements: list[str] = []
    spans: dict[tuple[str, int, int], str] = {}  # in order of weight: rule hits, then words
    words: list[str] = []
    for weight, name in ranked:
        if weight <= 0 or len(spans) >= _SPANS:
            break
        if name.startswith("w:"):
            if len(words) < _WORDS:
                words.append(name[2:])
            continue
        hits = f.sources.get(name, ())[:_PER_FEATURE]
        if reason and len(statements) < _TOP:
            phrase = PHRASES.get(name, name)
            for s in statements:
                if s.startswith(phrase):
                    break
            else:
                quoted = _quote(hits, fields)
                statements.append(phrase + (" " + quoted if quoted else ""))
        for h in hits:
            key = (h.field, h.start, h.end)
            if key not in spans:
                term = h.rule.term  # term_of, inlined (a few dozen hits per article)
                syntax = _HAS_SYNTAX.get(term)
                if syntax is None:
                    syntax = _HAS_SYNTAX[term] = bool(_SYNTAX.search(term))
                spans[key] = fields[key[0]][key[1] : key[2]] if syntax else term
    if words:
        surfaces = []
        for (fld, start, end), surface in _word_spans(found, words):
            spans.setdefault((fld, start, end), surface)
            surfaces.append(surface)
        statements.append(PHRASES["word"] + " " + ", ".join(f"'{w}'" for w in surfaces))
    evidence = tuple(
        [make_evidence(term, fld, s, e) for (fld, s, e), term in islice(spans.items(), _SPANS)]
    )
    if not reason:
        return evidence, ""
    if not statements:
        statements.append(PHRASES["rule_score" if positive else "no_cooperation"])
    return evidence, "; ".join(statements)


def _quote(hits: Iterable[Hit], fields: Mapping[str, str]) -> str:
    seen: list[str] = []
    lowered: list[str] = []
    for h in hits:
        text = fields[h.field][h.start : h.end]
        low = text.lower()
        if low not in lowered:
            seen.append(text)
            lowered.append(low)
        if len(seen) == 3:
            break
    return ", ".join([f"'{t}'" for t in seen])


def _word_spans(found: Analysis, lemmas: list[str]) -> list[tuple[tuple[str, int, int], str]]:
    """The first occurrence of each lemma: its span and its text, in ``lemmas`` order."""
    scanned = found.features.scanned
    out = []
    for lemma in lemmas:
        try:
            at = scanned.lemmas.index(lemma)  # a C-level scan; words explained are few
        except ValueError:
            continue
        out.append((scanned.locate(at), scanned.tokens.words[at]))
    return out
