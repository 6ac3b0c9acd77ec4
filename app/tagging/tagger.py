"""``Tagger``: one article's language, rule hits, relevance, themes and the learned layer's
decision, and ``load_tagger`` (re-exported by ``app.tagging``; a module of its own so that
the accelerator can compile it, app/tagging/accel.py)."""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from hashlib import blake2b
from itertools import compress
from operator import attrgetter, not_
from pathlib import Path

from app.tagging.explain import decide, readable
from app.tagging.features import extract
from app.tagging.language import DETECTABLE, detect_language
from app.tagging.matcher import Hit, Matcher, Scanned, drop_vetoed
from app.tagging.model import DEFAULT_MODEL, Model
from app.tagging.model import load as load_model
from app.tagging.relevance import score_relevance
from app.tagging.result import Analysis, TagResult
from app.tagging.rules import ANY_LANGUAGE, build_indexes
from app.tagging.taxonomy import DEFAULT_THEMES, DEFAULT_TOPIC, Taxonomy, load_taxonomy
from app.tagging.themes import score_themes, strongest_first

_GROUP = attrgetter("rule.group")
_VETO = attrgetter("rule.veto")

MEMO_SIZE = 8192  # articles whose results a tagger remembers (a few MB)

_TOPIC_GROUPS = frozenset(
    {"amazon", "tiktok", "ref:amazon", "ref:tiktok", "other", "pair", "cue", "compete"}
)


class Tagger:
    """Compiled rules for every language; ``tag`` applies them to one article."""

    def __init__(
        self, taxonomy: Taxonomy, model: Model | None = None, memo_size: int = MEMO_SIZE
    ) -> None:
        self.model = model
        # Results of recent articles by a digest of their fields: a feed that
        # changed serves its other 20-50 items again, and ingest tags every one.
        self._memo: dict[bytes, TagResult] = {}
        self._memo_size = memo_size
        self.version = taxonomy.version + (f"+{model.version}" if model else "")
        self._taxonomy = taxonomy
        # Only languages with their own terms get an index; the rest share the
        # language-neutral one (names, acronyms) and load no lemma data up front.
        indexes = build_indexes(taxonomy.terms, ())
        self._matchers = {
            lang: Matcher(indexes.get(lang, indexes[ANY_LANGUAGE]), lang)
            for lang in {*DETECTABLE, *indexes}
        }

    def tag(self, *, title: str, summary: str, text: str, language: str | None = None) -> TagResult:
        if not self._memo_size:
            return self._tag(title, summary, text, language)
        key = blake2b(
            "\x00".join((title, summary, text, language or "")).encode("utf-8", "surrogatepass"),
            digest_size=16,
        ).digest()
        memo = self._memo
        result = memo.get(key)
        if result is None:
            result = self._tag(title, summary, text, language)
            if len(memo) >= self._memo_size:
                del memo[next(iter(memo))]  # the oldest entry
            memo[key] = result
        # A fresh dict each time: callers may keep or change their scores. (Built
        # directly: ``dataclasses.replace`` cost ~10 us a call, once per article.)
        return TagResult(
            result.language,
            result.relevant,
            result.relevance_score,
            result.relevance_reason,
            result.relevance_evidence,
            result.themes,
            dict(result.theme_scores),
            result.version,
        )

    def _tag(self, title: str, summary: str, text: str, language: str | None) -> TagResult:
        found = self.analyse(title=title, summary=summary, text=text, language=language)
        if self.model is None:
            return self._by_rules(found)
        return decide(self.model, found, self.version)

    def analyse(
        self, *, title: str, summary: str, text: str, language: str | None = None
    ) -> Analysis:
        lang = detect_language(f"{title}\n\n{summary}\n\n{text}", hint=language)
        fields = {"title": title, "summary": summary, "text": text}
        found, scanned = self._hits(lang, fields)
        hits = strongest_first(found)
        topic = list(compress(hits, map(_TOPIC_GROUPS.__contains__, map(_GROUP, hits))))
        relevance = score_relevance(topic, self._taxonomy.relevance, self.model is None)
        params = self._taxonomy.themes
        themes, scores = score_themes(hits, params, self.model is None)
        features = extract(
            lang,
            hits,
            scanned,
            fields,
            (relevance.relevant, relevance.score),
            scores,
            params.thresholds,
        )
        return Analysis(lang, fields, hits, relevance, themes, scores, features)

    def _by_rules(self, found: Analysis) -> TagResult:
        relevance = found.relevance
        return TagResult(
            language=found.language,
            relevant=relevance.relevant,
            relevance_score=relevance.score,
            relevance_reason=relevance.reason,
            relevance_evidence=readable(relevance.evidence, found.fields),
            themes=tuple(
                replace(t, evidence=readable(t.evidence, found.fields)) for t in found.themes
            ),
            theme_scores=found.theme_scores,
            version=self.version,
        )

    def _hits(self, lang: str, fields: dict[str, str]) -> tuple[list[Hit], Scanned]:
        matcher = self._matchers.get(lang) or self._matchers[ANY_LANGUAGE]
        found, scanned = matcher.scan(fields)
        flags = list(map(_VETO, found))
        if not any(flags):
            return found, scanned
        vetoes = list(compress(found, flags))
        return drop_vetoed(list(compress(found, map(not_, flags))), vetoes), scanned


@lru_cache(maxsize=8)
def load_tagger(
    topic_path: Path | None = None,
    themes_path: Path | None = None,
    model_path: Path | None = None,
) -> Tagger:
    """A tagger for the given (default: packaged) rule and model files; cached per paths.

    Without a model file the rules decide alone (their scores are points, not
    probabilities)."""
    taxonomy = load_taxonomy(topic_path or DEFAULT_TOPIC, themes_path or DEFAULT_THEMES)
    return Tagger(taxonomy, load_model(model_path or DEFAULT_MODEL))
