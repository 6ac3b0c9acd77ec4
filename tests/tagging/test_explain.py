"""Article-level reasoning and readable evidence of the learned layer.

The example articles are written for these tests (our own words)."""

from __future__ import annotations

import re

import pytest

from app.tagging import Tagger, TagResult, load_tagger
from app.tagging.evaluate import DEFAULT_FILES, read_labelled, tag_item
from app.tagging.explain import REASON_KEYS
from app.tagging.taxonomy import DEFAULT_THEMES, DEFAULT_TOPIC, load_taxonomy

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
