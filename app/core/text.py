"""HTML to plain text for tagging and search (standard library only).

Block elements become paragraph breaks ("\\n\\n"), so the tagger can reason about
paragraphs; scripts, styles and other non-content elements are dropped. This
does not sanitise: stored HTML goes through ``feeds.sanitize``.
"""

from __future__ import annotations

import re
from html import unescape
from html.parser import HTMLParser

_BLOCK = frozenset(
    [
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "table",
        "tr",
        "td",
        "th",
        "section",
        "article",
        "header",
        "footer",
        "figure",
        "figcaption",
        "dd",
        "dt",
        "dl",
        "hr",
    ]
)
_SKIP = frozenset(
    [
        "script",
        "style",
        "template",
        "noscript",
        "iframe",
        "object",
        "embed",
        "svg",
        "math",
        "head",
        "title",
    ]
)
# Runs of spaces, tabs and no-break spaces that are not already one plain space:
# substituting " " for these collapses every run, without rebuilding the text around
# every single space (2.5 times faster on news paragraphs, which have few other runs).
_SPACE_RUNS = re.compile(r"[\t\r\f\v\u00a0][ \t\r\f\v\u00a0]*| [ \t\r\f\v\u00a0]+")
# A paragraph break: a run of white space holding two line feeds. The run's white space
# either side of the two is left on the paragraphs, which are stripped anyway; a
# pattern opening with ``\s*`` was tried at every white-space character (17x slower).
_BREAKS = re.compile(r"\n\s*\n")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip_depth += 1
        elif tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip_depth = max(0, self._skip_depth - 1)
        elif tag in _BLOCK:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip_depth:
            self.parts.append(data)


# The fast path's whole grammar: plain start tags (optionally self-closing) with
# quoted, bare or valueless attributes, and bare end tags. That is everything
# nh3's serialiser emits; for it ``HTMLParser`` would report exactly these tags.
# Anything else ("<!--", "<?", "<x:y>", a stray "<") leaves a "<" in the text
# between matches and sends the document down the ``HTMLParser`` path.
_WS = "[ \t\n\r\f]"
_ATTR = f"""{_WS}+[a-zA-Z_:][-a-zA-Z0-9_:.]*(?:{_WS}*={_WS}*(?:"[^"]*"|'[^']*'|[^\\s"'=<>`]+))?"""
_TAG = re.compile(f"<(?:([a-zA-Z][a-zA-Z0-9]*)(?:{_ATTR})*{_WS}*/?|/([a-zA-Z][a-zA-Z0-9]*){_WS}*)>")
# Tags whose content HTMLParser treats specially (raw text, or skipped by us,
# where start and self-closing tags differ): always the HTMLParser path.
_SPECIAL = _SKIP | {"textarea", "plaintext", "xmp", "noembed", "noframes", "listing"}


_MEMO: dict[str, str] = {}
_MEMO_SIZE = 256
_MEMO_MAX_CHARS = 8192


def html_to_text(html: str) -> str:
    """Plain text of ``html``: paragraphs separated by one blank line, spaces collapsed.

    The last few short inputs are remembered: ingest converts each entry's summary twice
    (for the article's text, then for the tagger's summary field)."""
    if len(html) > _MEMO_MAX_CHARS:
        return _html_to_text(html)
    found = _MEMO.get(html)
    if found is None:
        found = _MEMO[html] = _html_to_text(html)
        if len(_MEMO) > _MEMO_SIZE:
            _MEMO.pop(next(iter(_MEMO)), None)  # the oldest
    return found


def _html_to_text(html: str) -> str:
    if "<" not in html and "&" not in html:
        return normalise_space(html)
    fast = _fast_text(html)
    return normalise_space(fast) if fast is not None else _parsed_text(html)


def _fast_text(html: str) -> str | None:
    """What ``_TextExtractor`` would collect, by one regex split; None if unsure.

    ``HTMLParser`` is pure Python and was the larger part of parsing a feed entry.
    """
    parts = _TAG.split(html)
    # parts: text, start name, end name, text, start name, end name, ..., text
    out: list[str] = []
    for k in range(0, len(parts), 3):
        data = parts[k]
        if data:
            if "<" in data:
                return None
            out.append(unescape(data) if "&" in data else data)
        if k + 1 < len(parts):
            name = (parts[k + 1] or parts[k + 2]).lower()
            if name in _SPECIAL:
                return None
            if name in _BLOCK:
                out.append("\n\n")
    return "".join(out)


def _parsed_text(html: str) -> str:
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return normalise_space("".join(parser.parts))


def normalise_space(text: str) -> str:
    if "\n" not in text:
        # one paragraph (most titles and summaries): what the split below returns for it
        return _collapse(text).strip()
    paragraphs = _BREAKS.split(text.replace("\n", "\n\n") if "\n\n" not in text else text)
    cleaned = (_collapse(p.replace("\n", " ")).strip() for p in paragraphs)
    return "\n\n".join(p for p in cleaned if p)


def _collapse(text: str) -> str:
    """``_SPACE_RUNS.sub(" ", text)``; the regex runs only where it can match (two
    spaces, a tab, no-break space, CR, form feed or vertical tab): the ``in`` tests cost
    a seventh of its scan of text that has none."""
    if (
        "  " in text
        or "\t" in text
        or "\xa0" in text
        or "\r" in text
        or "\f" in text
        or "\v" in text
    ):
        return _SPACE_RUNS.sub(" ", text)
    return text


def is_lead_of(summary: str, body: str) -> bool:
    """True if the plain ``summary`` is the start of the plain ``body`` (maybe cut with an
    ellipsis), whatever the line breaks, paragraph breaks and runs of spaces in either: a
    feed's description often breaks the lead into other paragraphs than its content does
    (two ``<p>`` against one, or an excerpt on one line), and the lead must not be stored,
    searched and tagged twice."""
    lead = summary.rstrip(" .…[]").strip()
    if body.startswith(lead):
        return True
    want = " ".join(lead.split())
    # Squashing only shortens: a head twice the lead's length holds it unless the body
    # opens with long runs of spaces, and then the whole body is squashed.
    head = " ".join(body[: 2 * len(lead) + 64].split())
    if len(head) < len(want):
        head = " ".join(body.split())
    return head.startswith(want)


def paragraphs(text: str) -> list[str]:
    """The paragraphs of text produced by ``html_to_text``."""
    return [p for p in text.split("\n\n") if p]
