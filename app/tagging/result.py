"""What the tagger returns (``TagResult``) and what its rules found (``Analysis``)."""

from __future__ import annotations

from dataclasses import dataclass

from app.core.types import Evidence, ThemeTag
from app.tagging.features import Features
from app.tagging.matcher import Hit
from app.tagging.relevance import Relevance


@dataclass(frozen=True, slots=True)
class TagResult:
    language: str  # ISO 639-1, detected (or the hint when detection is unsure)
    relevant: bool
    relevance_score: float  # probability 0..1 with the learned layer, rule points without
    relevance_reason: str  # readable reasons joined by "; " (app.tagging.explain)
    relevance_evidence: tuple[Evidence, ...]
    themes: tuple[ThemeTag, ...]  # only themes over their threshold, origin="tagger"
    theme_scores: dict[str, float]  # all three themes' scores (for display)
    version: str  # the taxonomy+topic(+model) version, stored with each tag


@dataclass(frozen=True, slots=True)
class Analysis:
    """What the rules found in one article: the learned layer's input."""

    language: str
    fields: dict[str, str]
    hits: list[Hit]
    relevance: Relevance
    themes: tuple[ThemeTag, ...]
    theme_scores: dict[str, float]
    features: Features
