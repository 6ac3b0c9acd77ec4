"""Server-side highlighting: escaped text segments with ``<mark>`` around matches.

Every segment is escaped before it is joined, so the result is safe to render
as-is; the only markup added is ``<mark>``. Matching is on the accent-folded
text (``store.search.fold`` keeps offsets), like the search itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from markupsafe import Markup, escape

from app.store.search import fold

SNIPPET = 200  # characters of context shown around the first match


def find_spans(text: str, terms: Iterable[str]) -> list[tuple[int, int]]:
    folded = fold(text)
    spans = []
    for term in terms:
        start = folded.find(term) if term else -1
        while start >= 0:
            spans.append((start, start + len(term)))
            start = folded.find(term, start + len(term))
    return merge(spans)


def merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def mark_spans(text: str, spans: Sequence[tuple[int, int]], *, title: str = "") -> Markup:
    """``text`` escaped, with each (start, end) span wrapped in ``<mark>``."""
    out = []
    position = 0
    for start, end in merge((max(0, s), min(len(text), e)) for s, e in spans):
        if start >= end or start < position:
            continue
        out.append(escape(text[position:start]))
        attr = Markup(' title="{}"').format(title) if title else Markup("")
        out.append(Markup("<mark{}>{}</mark>").format(attr, text[start:end]))
        position = end
    out.append(escape(text[position:]))
    return Markup("").join(out)


def highlight(text: str, terms: Sequence[str]) -> Markup:
    return mark_spans(text, find_spans(text, terms)) if terms else escape(text)


def snippet(text: str, terms: Sequence[str], width: int = SNIPPET) -> Markup:
    """A window of ``text`` around the first match (or its start), highlighted."""
    spans = find_spans(text, terms) if terms else []
    begin = max(0, spans[0][0] - width // 3) if spans else 0
    end = min(len(text), begin + width)
    if begin:  # start at a word, never inside one
        space = text.find(" ", begin, spans[0][0] if spans else end)
        begin = space + 1 if space != -1 else begin
    if end < len(text):  # end at a word boundary too
        space = text.rfind(" ", max(begin, spans[0][1] if spans else begin), end)
        end = space if space > begin else end
    window = text[begin:end]
    prefix = "…" if begin else ""
    suffix = "…" if end < len(text) else ""
    return Markup("{}{}{}").format(prefix, highlight(window, terms), suffix)


def mark_paragraphs(text: str, spans: Sequence[tuple[int, int]]) -> tuple[Markup, ...]:
    """``text`` split at blank lines, each paragraph escaped with its spans marked
    (offsets into ``text``, as the tagger's evidence gives them)."""
    out = []
    start = 0
    for part in text.split("\n\n"):
        end = start + len(part)
        inside = [
            (max(s, start) - start, min(e, end) - start) for s, e in spans if s < end and e > start
        ]
        if part.strip():
            out.append(mark_spans(part, inside))
        start = end + 2
    return tuple(out)
