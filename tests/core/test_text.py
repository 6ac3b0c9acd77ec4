"""html_to_text: paragraph semantics, and the regex fast path agrees with HTMLParser."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.text import _fast_text, _parsed_text, html_to_text, is_lead_of, paragraphs
from app.feeds.sanitize import sanitize_html

DATA = Path(__file__).resolve().parents[1] / "data" / "labels" / "articles.jsonl"


@pytest.mark.parametrize(
    ("html", "text"),
    [
        ("<p>One</p><p>Two</p>", "One\n\nTwo"),
        ("a<br>b<br/>c", "a\n\nb\n\nc"),
        ("<b>bold</b> and <i>it</i>", "bold and it"),
        ("x &amp; y &lt;z&gt; &nbsp;w", "x & y <z> w"),
        ("<p>keep</p><script>drop()</script><style>p{}</style>", "keep"),
        ("<div>a\n   b</div>\n\n\n<div>c</div>", "a b\n\nc"),
        ('<a href="https://e.com/?a=1&amp;b=2" title="x>y">link</a> text', "link text"),
        ("<!-- note --><p>after</p>", "after"),
        ("1 < 2 and <P>UPPER</P>", "1 < 2 and\n\nUPPER"),
        ("plain\ntext", "plain\n\ntext"),
    ],
)
def test_html_to_text(html: str, text: str) -> None:
    assert html_to_text(html) == text
    assert paragraphs(html_to_text(html)) == [p for p in text.split("\n\n") if p]


def test_sanitised_dev_set_takes_the_fast_path_with_the_same_text() -> None:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line]
    for row in rows:
        for html in (row["content"] or "", sanitize_html(row["content"] or "", base_url=None)):
            assert _fast_text(html) is not None
            assert html_to_text(html) == _parsed_text(html)


_FRAGMENTS = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<br>",
        "<br/>",
        "<br />",
        "<DIV class='a'>",
        "</div >",
        '<a href="x?a=1&amp;b=2">',
        "<a href=x/>",
        "</a>",
        "<img src=x alt>",
        "<li>",
        "<h2>",
        "</h2>",
        "<script>",
        "</script>",
        "<style>",
        "<svg/>",
        "<title>",
        "<!--",
        "-->",
        "<!DOCTYPE html>",
        "<?x?>",
        "<x:y>",
        "</ p>",
        "<p/ >",
        "&amp;",
        "&amp",
        "&#x41;",
        "&nbsp;",
        "&unknown;",
        "<",
        ">",
        "&",
        "=",
        '"',
        "'",
        "\n",
        "\n\n",
        " ",
        "\t",
        "\u00a0",
        "\u2003",
        "word",
        "Größe",
    ]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_FRAGMENTS | st.text(max_size=5), max_size=30))
def test_fast_path_matches_htmlparser(pieces: list[str]) -> None:
    html = "".join(pieces)
    assert html_to_text(html) == _parsed_text(html)


def test_the_memo_of_recent_conversions_stays_small() -> None:
    """Ingest converts each summary twice, so short inputs are remembered; an article
    page's text (up to megabytes) never is, and the memo never grows past its size."""
    from app.core import text as module

    page = "<p>" + "word " * 5000 + "</p>"
    assert html_to_text(page) == ("word " * 5000).strip()
    assert page not in module._MEMO
    for n in range(module._MEMO_SIZE * 2):
        assert html_to_text(f"<p>entry {n}</p>") == f"entry {n}"
    assert len(module._MEMO) <= module._MEMO_SIZE
    assert html_to_text("<p>entry 3</p>") == "entry 3"  # evicted, converted again


@pytest.mark.parametrize(
    ("summary", "body", "lead"),
    [
        ("Sales rose.", "Sales rose. Costs fell.", True),
        ("Sales rose …", "Sales rose by a third.", True),  # a teaser cut with an ellipsis
        ("Sales rose.\n\nCosts fell.", "Sales rose. Costs fell. Then more.", True),
        ("Sales rose. Costs fell.", "Sales rose.\n\nCosts fell.\n\nThen more.", True),
        ("Sales  rose.\nCosts fell.", "Sales rose.  Costs\nfell.", True),
        ("Sales rose.", " " * 500 + "Sales rose.", True),  # a body opening with spaces
        ("Costs fell.", "Sales rose. Costs fell.", False),  # inside, not the start
        ("Sales rose sharply.", "Sales rose. Costs fell.", False),
        ("Sales rose.\n\nCosts fell.", "Sales rose.", False),  # longer than the body
    ],
)
def test_a_lead_is_the_start_of_the_body_whatever_its_breaks(
    summary: str, body: str, lead: bool
) -> None:
    assert is_lead_of(summary, body) is lead


@settings(derandomize=True, max_examples=500, deadline=None)
@given(st.text(alphabet=" \t\r\f\v\u00a0\n\u2028\u3000ab.", max_size=40))
def test_space_runs_collapse_as_the_plain_pattern_did(paragraph: str) -> None:
    """``normalise_space`` substitutes only the runs that are not already one space;
    the text is the one the plain pattern (every run, single spaces too) gave."""
    import re

    from app.core.text import _SPACE_RUNS

    every_run = re.compile(r"[ \t\r\f\v\u00a0]+")  # the pattern normalise_space used
    assert _SPACE_RUNS.sub(" ", paragraph) == every_run.sub(" ", paragraph)


@settings(derandomize=True, max_examples=3000, deadline=None)
@given(st.text(alphabet=" \t\r\f\v\u00a0\n\u2028\u3000\u0085\x1cab.", max_size=60))
def test_normalise_space_gives_the_text_the_paragraph_split_gave(text: str) -> None:
    """The one-paragraph shortcut, the break pattern without its leading white space and
    the skipped substitution (no run to collapse) change no text: the reference is the
    split-and-substitute that always ran."""
    import re

    from app.core.text import _SPACE_RUNS, normalise_space

    breaks = re.compile(r"\s*\n\s*\n\s*")  # the pattern that split paragraphs

    def reference(value: str) -> str:
        parts = breaks.split(value.replace("\n", "\n\n") if "\n\n" not in value else value)
        cleaned = (_SPACE_RUNS.sub(" ", p.replace("\n", " ")).strip() for p in parts)
        return "\n\n".join(p for p in cleaned if p)

    assert normalise_space(text) == reference(text)
    assert re.search(r"[\t\r\f\v\u00a0]|  ", normalise_space(text).replace("\n\n", "")) is None
