"""The story-cluster benchmark's headline-edit check (bench/bench_clusters.py): the copies
it counts as found must be the ones that joined their original's story, and a stream of
look-alikes that crowds the original out of the capped look-up must show as a miss."""

from __future__ import annotations

import random
from pathlib import Path

from bench.bench_clusters import EDITS, edit_headline, headline_edits, labelled

TITLE = "Amazon and TikTok widen their shopping partnership in the United States"
TEXT = (
    "Amazon and TikTok widened their shopping partnership on Tuesday, letting TikTok "
    "users buy Amazon products without leaving the app.\n\nLawmakers asked how shopper "
    "data would flow between the companies."
)


def test_each_edit_changes_the_headline_as_named() -> None:
    rng = random.Random(1)
    vocabulary = ["Brussels", "merchants", "senators"]
    words = TITLE.split()
    replaced = edit_headline(TITLE, "one word replaced", vocabulary, rng).split()
    assert len(replaced) == len(words)
    assert sum(a != b for a, b in zip(words, replaced, strict=True)) == 1
    two = edit_headline(TITLE, "two words replaced", vocabulary, rng).split()
    assert sum(a != b for a, b in zip(words, two, strict=True)) == 2
    assert len(edit_headline(TITLE, "one word added", vocabulary, rng).split()) == len(words) + 1
    assert len(edit_headline(TITLE, "one word dropped", vocabulary, rng).split()) == len(words) - 1
    assert set(EDITS) == {
        "one word replaced",
        "two words replaced",
        "one word added",
        "one word dropped",
    }


def test_a_copy_is_found_alone_and_lost_behind_a_crowd_of_look_alikes(tmp_path: Path) -> None:
    # Look-alikes: the original's very headline over other stories. Every look-up key of
    # a copy with a word dropped is one they share, except the whole headline's, and they
    # are newer than the original: past the capped rows per key, the original is not
    # reached.
    look_alikes = [(TITLE, f"An unrelated report number {n} about the weather.") for n in range(12)]
    results = headline_edits(
        tmp_path, [(TITLE, TEXT)], edits=("one word dropped",), streams=(0, 12), pool=look_alikes
    )
    assert results[("one word dropped", 0)] == (1, 1, 0)
    assert results[("one word dropped", 12)] == (0, 1, 0)


def test_the_labelled_headlines_ship_with_the_project() -> None:
    articles = labelled()
    assert len(articles) == 301
    assert all(title and text for title, text in articles)
