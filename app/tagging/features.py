"""Interpretable features of one article for the learned layer (``model``).

Every feature is a number a person can read back: how many sentences name
both companies with a cooperation word, whether the headline names both,
how strong the rule score for a theme is, whether a word occurs. Each keeps
the hits it came from, so a decision can be explained by the phrases that
weighed most, with their offsets. Pure: hits and tokens in, numbers out.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from math import log1p
from operator import attrgetter

from app.tagging.matcher import Hit, Scanned
from app.tagging.taxonomy import THEMES

ENTITIES = ("amazon", "tiktok")
_GROUP = attrgetter("rule.group")  # a C-level getter: the groups of many hits
_REFS = {"ref:amazon": "amazon", "ref:tiktok": "tiktok"}
_STRONG = 2.0
# Theme terms that count for a theme's sentences (not weak words); _STRONG is above it.
_ABOUT_WEIGHT = 1.0
# A text with no body and a one-line lead is a headline item (aggregator feeds).
HEADLINE_WORDS = 40
SHORT_BODY_WORDS = 120
# Theme thresholds apply in full from this many tokens, down to this share of them.
FULL_LENGTH_TOKENS = 300
MIN_THRESHOLD_SCALE = 0.4


@dataclass(slots=True)
class Features:
    values: dict[str, float]
    words: frozenset[str]  # lemmas present (the model keeps those in its vocabulary)
    sources: dict[str, list[Hit]]  # feature -> hits that made it (for evidence)
    scanned: Scanned
    language: str
    form: str  # "headline", "short" or "full", as the text looks (not a label)


def article_form(fields: Mapping[str, str]) -> str:
    # Counting stops past the limit (maxsplit): only "under the limit or not" matters.
    text_words = len(fields.get("text", "").split(maxsplit=SHORT_BODY_WORDS))
    summary = fields.get("summary", "")
    if text_words == 0 and len(summary.split(maxsplit=HEADLINE_WORDS)) < HEADLINE_WORDS:
        return "headline"
    return "short" if text_words < SHORT_BODY_WORDS else "full"


class _Unit:
    """A sentence (or a paragraph): which companies it names, its cues."""

    __slots__ = ("compete", "entities", "hits", "strong")

    def __init__(self) -> None:
        self.entities: set[str] = set()
        self.strong: list[Hit] = []
        self.compete = False
        self.hits: list[Hit] = []


def extract(
    language: str,
    hits: Sequence[Hit],
    scanned: Scanned,
    fields: Mapping[str, str],
    rule_relevance: tuple[bool, float],
    theme_scores: Mapping[str, float],
    theme_thresholds: Mapping[str, float],
) -> Features:
    values: dict[str, float] = {}
    sources: dict[str, list[Hit]] = defaultdict(list)
    named = set(map(_GROUP, hits)) & set(ENTITIES)
    sentences: dict[tuple[str, int], _Unit] = defaultdict(_Unit)
    paragraphs: dict[tuple[str, int], _Unit] = defaultdict(_Unit)
    counts: dict[str, float] = defaultdict(float)
    theme_hits: dict[str, list[Hit]] = defaultdict(list)
    for hit in hits:
        group = hit.rule.group
        if group in theme_thresholds:  # most hits: no sentence bookkeeping needed
            theme_hits[group].append(hit)
            continue
        if group == "other":
            counts["other"] += 1
            sources["other"].append(hit)
            continue
        entity = group if group in named else _REFS.get(group)
        if entity is not None and entity in named:
            sent = sentences[(hit.field, hit.sentence)]
            para = paragraphs[("lead", 0) if hit.field != "text" else ("text", hit.paragraph)]
            sent.entities.add(entity)
            para.entities.add(entity)
            sent.hits.append(hit)
            para.hits.append(hit)
            counts[entity] += 1
            if group.startswith("ref:"):
                counts["ref"] += 1
                sources["refs"].append(hit)
            if hit.field == "title":
                counts["title_" + entity] += 1
        elif group == "cue":
            tier = "strong" if hit.rule.weight >= _STRONG else "medium"
            counts["cue_" + tier] += 1
            sources["cue_" + tier].append(hit)
            if tier == "strong":
                sentences[(hit.field, hit.sentence)].strong.append(hit)
                para = paragraphs[("lead", 0) if hit.field != "text" else ("text", hit.paragraph)]
                para.strong.append(hit)
        elif group == "pair" and len(named) == 2:
            sent = sentences[(hit.field, hit.sentence)]
            para = paragraphs[("lead", 0) if hit.field != "text" else ("text", hit.paragraph)]
            sent.entities.update(named)
            para.entities.update(named)
            sent.hits.append(hit)
        elif group == "compete":
            para = paragraphs[("lead", 0) if hit.field != "text" else ("text", hit.paragraph)]
            sentences[(hit.field, hit.sentence)].compete = para.compete = True
            counts["compete"] += 1
            sources["compete"].append(hit)
    both = set(ENTITIES)
    for (fld, _), sent in sentences.items():
        if sent.entities >= both:
            counts["sent_both"] += 1
            if sent.strong and not sent.compete:
                key = "both_cue_" + ("lead" if fld != "text" else "body")
                counts[key] += 1
                sources[key] += sent.hits + sent.strong
            if sent.compete:
                counts["both_compete"] += 1
                sources["both_compete"] += sent.hits
        if sent.entities and sent.compete:
            counts["entity_compete"] += 1
    for (where, _), para in paragraphs.items():
        if para.entities >= both:
            counts["para_both"] += 1
            sources["para_both"] += para.hits
            if para.strong and not para.compete:
                counts["para_both_cue"] += 1
                sources["para_both_cue"] += para.hits + para.strong
            if where == "lead":
                counts["lead_both"] += 1
                sources["lead_both"] += para.hits
    form = article_form(fields)
    headline = form == "headline"
    relevant, score = rule_relevance
    values["rule_relevant"] = float(relevant)
    values["rule_score"] = min(score, 10.0) / 10.0
    values["named_both"] = float(len(named) == 2)
    for name in (
        "sent_both",
        "both_cue_lead",
        "both_cue_body",
        "both_compete",
        "entity_compete",
        "para_both",
        "para_both_cue",
        "lead_both",
        "cue_strong",
        "cue_medium",
        "compete",
        "other",
        "ref",
        "amazon",
        "tiktok",
        "title_amazon",
        "title_tiktok",
    ):
        # Read with get: a defaultdict's missing key would be made (a call per name).
        count = counts.get(name)
        if count:
            values[name] = log1p(count)
    title_both = counts.get("title_amazon", 0.0) > 0 and counts.get("title_tiktok", 0.0) > 0
    values["title_both"] = float(title_both)
    values["form_headline"] = float(headline)
    values["form_short"] = float(form == "short")
    if headline:
        for name in ("rule_relevant", "title_both", "cue_strong", "compete"):
            if name in values:
                values["headline_" + name] = values[name]
    # Theme thresholds were set on long articles: a teaser or a headline has room
    # for a sentence or two, so the bar scales with the text's length.
    scale = min(1.0, max(MIN_THRESHOLD_SCALE, len(scanned.lemmas) / FULL_LENGTH_TOKENS))
    for theme in THEMES:
        t_hits = theme_hits.get(theme, [])
        t_score = theme_scores.get(theme, 0.0)
        values[theme + "_score"] = log1p(t_score)
        values[theme + "_pass"] = float(t_score >= theme_thresholds[theme] * scale)
        if t_hits:
            sources[theme + "_score"] = t_hits
            # One pass: hits in the lead, sentences with a theme term of weight
            # 1+ (and which terms), strong hits.
            lead: list[Hit] = []
            strong: list[Hit] = []
            per_sentence: dict[tuple[str, int], set[str]] = {}
            for h in t_hits:
                if h.field != "text":
                    lead.append(h)
                weight = h.rule.weight
                if weight >= _ABOUT_WEIGHT:
                    at = (h.field, h.sentence)
                    terms = per_sentence.get(at)
                    if terms is None:
                        per_sentence[at] = {h.rule.term}
                    else:
                        terms.add(h.rule.term)
                    if weight >= _STRONG:
                        strong.append(h)
            if lead:
                values[theme + "_lead"] = log1p(len(lead))
                sources[theme + "_lead"] = lead
            values[theme + "_sentences"] = log1p(len(per_sentence))
            # A sentence about the theme (GUIDE: "at least a sentence that is about
            # it, not a single word in passing") has two or more of its terms.
            about = {k for k, terms in per_sentence.items() if len(terms) >= 2}
            if about:
                values[theme + "_about"] = log1p(len(about))
                sources[theme + "_about"] = [h for h in t_hits if (h.field, h.sentence) in about]
            if strong:
                values[theme + "_strong"] = log1p(len(strong))
                sources[theme + "_strong"] = strong
            if headline:
                values["headline_" + theme] = values[theme + "_score"]
    return Features(values, frozenset(scanned.lemmas), sources, scanned, language, form)
