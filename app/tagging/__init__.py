"""The tagger: language, relevance to the Amazon–TikTok topic, and themes.

``load_tagger()`` compiles the rules in ``topic.toml`` and ``themes.toml`` once;
``Tagger.tag`` is then a deterministic function of its arguments (its only
state is memoised token look-ups). It does not fetch, store or know about
editors: editor overrides are the store's business.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from app.core.types import Evidence, ThemeTag
from app.tagging.language import DETECTABLE, detect_language
from app.tagging.matcher import Hit, Matcher, drop_vetoed
from app.tagging.relevance import score_relevance
from app.tagging.rules import ANY_LANGUAGE, build_indexes
from app.tagging.taxonomy import DEFAULT_THEMES, DEFAULT_TOPIC, Taxonomy, load_taxonomy
from app.tagging.themes import score_themes, strongest_first

__all__ = ["TagResult", "Tagger", "load_tagger"]

_TOPIC_GROUPS = frozenset({"amazon", "tiktok", "other", "pair", "cue", "compete"})


@dataclass(frozen=True, slots=True)
class TagResult:
    language: str  # ISO 639-1, detected (or the hint when detection is unsure)
    relevant: bool
    relevance_score: float
    relevance_reason: str
    relevance_evidence: tuple[Evidence, ...]
    themes: tuple[ThemeTag, ...]  # only themes over their threshold, origin="tagger"
    theme_scores: dict[str, float]  # all three themes' scores (for display)
    version: str  # the taxonomy+topic version, stored with each tag


class Tagger:
    """Compiled rules for every language; ``tag`` applies them to one article."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.version = taxonomy.version
        self._taxonomy = taxonomy
        # Only languages with their own terms get an index; the rest share the
        # language-neutral one (names, acronyms) and load no lemma data up front.
        indexes = build_indexes(taxonomy.terms, ())
        self._matchers = {
            lang: Matcher(indexes.get(lang, indexes[ANY_LANGUAGE]), lang)
            for lang in {*DETECTABLE, *indexes}
        }

    def tag(self, *, title: str, summary: str, text: str, language: str | None = None) -> TagResult:
        lang = detect_language(f"{title}\n\n{summary}\n\n{text}", hint=language)
        hits = strongest_first(self._hits(lang, title=title, summary=summary, text=text))
        topic = [h for h in hits if h.rule.group in _TOPIC_GROUPS]
        relevance = score_relevance(topic, self._taxonomy.relevance)
        themes, scores = score_themes(hits, self._taxonomy.themes)
        return TagResult(
            language=lang,
            relevant=relevance.relevant,
            relevance_score=relevance.score,
            relevance_reason=relevance.reason,
            relevance_evidence=relevance.evidence,
            themes=themes,
            theme_scores=scores,
            version=self.version,
        )

    def _hits(self, lang: str, **fields: str) -> list[Hit]:
        matcher = self._matchers.get(lang) or self._matchers[ANY_LANGUAGE]
        found = matcher.find(fields)
        vetoes = [h for h in found if h.rule.veto]
        if not vetoes:
            return found
        return drop_vetoed([h for h in found if not h.rule.veto], vetoes)


@lru_cache(maxsize=8)
def load_tagger(topic_path: Path | None = None, themes_path: Path | None = None) -> Tagger:
    """A tagger for the given (default: packaged) rule files; cached per path pair."""
    return Tagger(load_taxonomy(topic_path or DEFAULT_TOPIC, themes_path or DEFAULT_THEMES))
