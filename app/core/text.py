"""HTML to plain text for tagging and search (standard library only).

Block elements become paragraph breaks ("\\n\\n"), so the tagger can reason about
paragraphs; scripts, styles and other non-content elements are dropped. This
does not sanitise: stored HTML goes through ``feeds.sanitize``.
"""

from __future__ import annotations

import re
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
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")
_BREAKS = re.compile(r"\s*\n\s*\n\s*")


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


def html_to_text(html: str) -> str:
    """Plain text of ``html``: paragraphs separated by one blank line, spaces collapsed."""
    if "<" not in html and "&" not in html:
        return normalise_space(html)
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    return normalise_space("".join(parser.parts))


def normalise_space(text: str) -> str:
    paragraphs = _BREAKS.split(text.replace("\n", "\n\n") if "\n\n" not in text else text)
    cleaned = (_SPACES.sub(" ", p.replace("\n", " ")).strip() for p in paragraphs)
    return "\n\n".join(p for p in cleaned if p)


def paragraphs(text: str) -> list[str]:
    """The paragraphs of text produced by ``html_to_text``."""
    return [p for p in text.split("\n\n") if p]
