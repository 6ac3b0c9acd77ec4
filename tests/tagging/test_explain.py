"""Article-level reasoning and readable evidence of the learned layer.

The example articles are written for these tests (our own words)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from app.tagging import Tagger, TagResult, load_tagger
from app.tagging.evaluate import DEFAULT_FILES, load_items, read_labelled, tag_item
from app.tagging.explain import _AGAINST, _ALLOWED, REASON_KEYS
from app.tagging.features import Features
from app.tagging.model import Model
from app.tagging.taxonomy import DEFAULT_THEMES, DEFAULT_TOPIC, THEMES, load_taxonomy

RULE_SYNTAX = re.compile(r"~\d|(?:^|[\s'])[!=]\w|\w\*|\*\w")


def tag(title: str, summary: str = "", text: str = "", language: str = "en") -> TagResult:
    return load_tagger().tag(title=title, summary=summary, text=text, language=language)


def test_descriptive_references_resolve_across_sentences() -> None:
    result = tag(
        "What the new checkout means for sellers",
        summary="The Seattle retailer's products can now be bought inside the video app.",
        text=(
            "Amazon confirmed the arrangement on Tuesday.\n\n"
            "TikTok users who connect their shopping account see prices and delivery dates. "
            "The partnership lets the short-video app keep buyers in the feed while the "
            "retailer handles payment and shipping."
        ),
    )
    assert result.relevant, result.relevance_reason
    terms = {e.term for e in result.relevance_evidence}
    assert terms & {"Seattle retailer", "video app", "short-video app", "the retailer"}


def test_a_german_reference_counts_only_where_the_company_is_named() -> None:
    text = (
        "Die Kurzvideoplattform testet einen Kaufknopf, über den Nutzer beim Onlinehändler "
        "bestellen, ohne die App zu verlassen. Die Kooperation gilt zunächst in den USA."
    )
    named = Tagger(load_taxonomy(DEFAULT_TOPIC, DEFAULT_THEMES)).analyse(
        title="TikTok und Amazon", summary="", text=text, language="de"
    )
    unnamed = Tagger(load_taxonomy(DEFAULT_TOPIC, DEFAULT_THEMES)).analyse(
        title="Neuer Kaufknopf", summary="", text=text, language="de"
    )
    assert named.features.values.get("para_both_cue")
    assert not unnamed.features.values.get("para_both_cue")
    assert not unnamed.features.values.get("named_both")


def test_rivalry_is_not_a_relationship() -> None:
    result = tag(
        "TikTok Shop takes on Amazon with lower seller fees",
        summary="The rival marketplace wants merchants to move their catalogues.",
        text=(
            "TikTok Shop is trying to compete with Amazon for small merchants. It charges "
            "lower fees and promises faster payouts than its bigger rival. Sellers compare "
            "the two marketplaces on product reach, returns and advertising costs."
        ),
    )
    assert not result.relevant, result.relevance_reason


def test_headline_only_item_about_the_integration() -> None:
    result = tag("Amazon and TikTok launch in-app shopping partnership - Tech Wire")
    assert result.relevant, result.relevance_reason
    assert result.relevance_evidence


def test_gebot_does_not_light_up_inside_kaufangeboten() -> None:
    found = Tagger(load_taxonomy(DEFAULT_TOPIC, DEFAULT_THEMES)).analyse(
        title="Händler prüfen ihre Kaufangeboten", summary="", text="", language="de"
    )
    assert "Gebot" not in {h.rule.term for h in found.hits}


def test_scores_are_probabilities_and_version_names_the_model() -> None:
    result = tag("Amazon and TikTok sign a shopping partnership")
    assert 0.0 <= result.relevance_score <= 1.0
    assert all(0.0 <= p <= 1.0 for p in result.theme_scores.values())
    tagger = load_tagger()
    assert tagger.model is not None
    assert result.version.endswith("+" + tagger.model.version)
    rules_only = Tagger(load_taxonomy(DEFAULT_TOPIC, DEFAULT_THEMES))
    assert rules_only.version != tagger.version  # a new model means a new tag version


@pytest.mark.parametrize("path", DEFAULT_FILES, ids=lambda p: p.name)
def test_reasons_and_evidence_are_readable(path: object) -> None:
    tagger = load_tagger()
    for item in read_labelled(path):  # type: ignore[arg-type]
        result = tag_item(tagger, item)
        assert not RULE_SYNTAX.search(result.relevance_reason), result.relevance_reason
        head, _, body = result.relevance_reason.partition(": ")
        assert head.split(" (")[0] in REASON_KEYS
        for statement in body.split("; "):
            assert statement.split(" '")[0] in REASON_KEYS, statement
        evidence = [*result.relevance_evidence, *(e for t in result.themes for e in t.evidence)]
        for e in evidence:
            assert not RULE_SYNTAX.search(e.term), e
            assert e.start < e.end


def test_long_text_is_tagged() -> None:
    paragraph = (
        "Amazon and TikTok extended their shopping partnership. "
        "Sellers reported higher sales through the in-app checkout. "
    )
    result = tag("A long report", text="\n\n".join([paragraph] * 400))
    assert result.relevant
    assert len(result.relevance_evidence) <= 8


def _plain_contributions(
    model: Model, target: str, f: Features, allowed: Callable[[str], bool], top: int, sign: int
) -> list[tuple[float, str]]:
    """``Model.contributions`` as first written: every present feature and side word
    ranked by (sign × weight × value, name), the largest ``top``."""
    t = model.targets[target]
    out = [
        (sign * t.weights[n] * v, n)
        for n, v in f.values.items()
        if v and n in t.weights and allowed(n)
    ]
    out += [
        (abs(w), "w:" + lemma)
        for lemma, w in t.words.items()
        if lemma in f.words and w and (w > 0) is (sign > 0) and lemma not in model.quiet
    ]
    return sorted(out, reverse=True)[:top]


@pytest.mark.parametrize("target", ["relevance", "security", "regulatory", "market"])
def test_contributions_rank_as_a_plain_sort_does(target: str) -> None:
    """Ranked by precomputed places and per-(target, sign) tables: the same list as
    ranking every present feature and word, on every labelled article, both signs."""
    tagger = load_tagger()
    model = tagger.model
    assert model is not None
    for item in load_items(DEFAULT_FILES, tagger):
        f = item.found.features
        for sign, allowed in ((1, _ALLOWED[target]), (-1, _AGAINST.__contains__)):
            expected = _plain_contributions(model, target, f, allowed, 12, sign)
            assert model.contributions(target, f, allowed, top=12, sign=sign) == expected
            known = model.known(f)
            assert known == f.words & {w for t in model.targets.values() for w in t.words}
            got = model.contributions(target, f, allowed, top=12, sign=sign, known=known)
            assert got == expected
            assert model.scores(f, known) == model.scores(f)


def test_theme_evidence_does_not_depend_on_writing_the_reason() -> None:
    """Themes keep only their evidence, so their statements are not written: the
    evidence is the same as when they are, on every labelled article and theme."""
    from app.tagging.explain import _explain

    tagger = load_tagger()
    model = tagger.model
    assert model is not None
    for item in load_items(DEFAULT_FILES, tagger):
        known = model.known(item.found.features)
        for theme in THEMES:
            full = _explain(model, theme, item.found, True, known)
            short = _explain(model, theme, item.found, True, known, reason=False)
            assert short == (full[0], "")
