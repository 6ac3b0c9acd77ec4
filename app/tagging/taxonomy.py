"""Reading ``topic.toml`` and ``themes.toml`` into flat term lists and parameters.

Only parsing and validation live here; compiling terms is ``rules``' job. The
grammar of both files is documented at the top of ``themes.toml``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

THEMES = ("security", "regulatory", "market")
TIERS = ("strong", "medium", "weak")
DEFAULT_TOPIC = Path(__file__).with_name("topic.toml")
DEFAULT_THEMES = Path(__file__).with_name("themes.toml")
# The learned layer's weights (``model``). Its path is set here, not in model.py: a compiled
# module's ``__file__`` is its build's, not the package's (app/tagging/accel.py).
DEFAULT_MODEL = Path(__file__).with_name("model.json")
CUE_TIERS = {"strong": 2.0, "medium": 1.0, "weak": 0.5}

# (language, group, term, weight)
TermRow = tuple[str, str, str, float]


@dataclass(frozen=True, slots=True)
class ThemeParams:
    thresholds: Mapping[str, float]
    boosts: Mapping[str, float]  # field name -> multiplier
    repeat_decay: float


@dataclass(frozen=True, slots=True)
class RelevanceParams:
    threshold: float
    body_cap: float
    points: Mapping[str, Mapping[str, float]]  # field -> sentence kind -> points
    list_window: int


@dataclass(frozen=True, slots=True)
class Taxonomy:
    version: str
    terms: tuple[TermRow, ...]
    themes: ThemeParams
    relevance: RelevanceParams


def load_taxonomy(topic_path: Path, themes_path: Path) -> Taxonomy:
    topic = _read(topic_path)
    themes = _read(themes_path)
    terms = (*_theme_terms(themes), *_topic_terms(topic))
    version = f"{themes['version']}+{topic['version']}"
    return Taxonomy(version, terms, _theme_params(themes), _relevance_params(topic))


def _read(path: Path) -> dict[str, Any]:
    with path.open("rb") as fh:
        return tomllib.load(fh)


def _theme_terms(doc: Mapping[str, Any]) -> Iterator[TermRow]:
    tiers: Mapping[str, float] = doc["scoring"]["tiers"]
    for theme in THEMES:
        for lang, table in doc["themes"][theme].items():
            if not isinstance(table, dict):
                continue  # the theme's own settings (threshold)
            for tier in TIERS:
                for term in table.get(tier, ()):
                    yield lang, theme, term, float(tiers[tier])
            for term in table.get("veto", ()):
                yield lang, "veto:" + theme, term, 0.0


def _topic_terms(doc: Mapping[str, Any]) -> Iterator[TermRow]:
    for name, entity in doc["entities"].items():
        yield from _names(_by_lang(entity.get("aliases", {}), name, 1.0))
        yield from _by_lang(entity.get("veto", {}), "veto:" + name, 0.0)
        yield from _by_lang(entity.get("refs", {}), "ref:" + name, 1.0)
    yield from _names(_by_lang(doc["others"]["names"], "other", 0.0))
    yield from _by_lang(doc["pair"], "pair", 1.0)
    yield from _by_lang(doc["competition"], "compete", 0.0)
    for lang, table in doc["cues"].items():
        for tier in TIERS:
            for term in table.get(tier, ()):
                yield lang, "cue", term, CUE_TIERS[tier]


def _by_lang(table: Mapping[str, list[str]], group: str, weight: float) -> Iterator[TermRow]:
    for lang, terms in table.items():
        for term in terms:
            yield lang, group, term, weight


def _names(rows: Iterator[TermRow]) -> Iterator[TermRow]:
    """Company names match their exact form: a lemmatiser has opinions about
    "X" (Italian "per") or "Target" that have nothing to do with the firms."""
    for lang, group, term, weight in rows:
        yield lang, group, " ".join(w if w[0] in "!=" else "!" + w for w in term.split()), weight


def _theme_params(doc: Mapping[str, Any]) -> ThemeParams:
    scoring = doc["scoring"]
    thresholds = {t: float(doc["themes"][t]["threshold"]) for t in THEMES}
    boosts = {
        "title": float(scoring["title_boost"]),
        "summary": float(scoring["summary_boost"]),
        "text": 1.0,
    }
    return ThemeParams(thresholds, boosts, float(scoring["repeat_decay"]))


def _relevance_params(doc: Mapping[str, Any]) -> RelevanceParams:
    s = doc["scoring"]
    points = {f: {k: float(v) for k, v in s[src].items()} for f, src in _FIELD_POINTS.items()}
    return RelevanceParams(
        float(s["threshold"]), float(s["body_cap"]), points, int(s["list_window"])
    )


_FIELD_POINTS = {"title": "title", "summary": "summary", "text": "body"}
