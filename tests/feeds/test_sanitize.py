from html.parser import HTMLParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.feeds.sanitize import _PLAIN_HTTP, _safe_link, clean_text, safe_link, sanitize_html

BASE = "https://example.com/dir/page"


@pytest.mark.parametrize(
    ("dirty", "clean"),
    [
        ("<p onclick=alert(1)>x</p>", "<p>x</p>"),
        ("<script>alert(1)</script>ok", "ok"),
        ("<style>b{}</style><p style='x' class=c id=i>ok</p>", "<p>ok</p>"),
        (
            '<a href="jav&#x09;ascript:alert(1)">x</a>',
            '<a rel="noopener noreferrer nofollow">x</a>',
        ),
        ('<a href=" JaVaScRiPt:alert(1)">x</a>', '<a rel="noopener noreferrer nofollow">x</a>'),
        ('<a href="vbscript:x">x</a>', '<a rel="noopener noreferrer nofollow">x</a>'),
        ('<a href="file:///etc/passwd">x</a>', '<a rel="noopener noreferrer nofollow">x</a>'),
        ('<img src="data:image/svg+xml,x">', "<img>"),
        ('<svg><a xlink:href="javascript:alert(1)">x</a></svg>ok', "ok"),
        ('<math><mi xlink:href="javascript:alert(1)">m</mi></math>ok', "ok"),
        ("<form action=https://e.vil><input name=pw>t</form>", "t"),
        ("<iframe src=https://e.vil></iframe>ok", "ok"),
        (
            '<a href="https://e.com/" target="_blank">x</a>',
            '<a href="https://e.com/" rel="noopener noreferrer nofollow">x</a>',
        ),
        (
            '<a href="mailto:a@e.com">m</a>',
            '<a href="mailto:a@e.com" rel="noopener noreferrer nofollow">m</a>',
        ),
        (
            '<a href="../up">x</a>',
            '<a href="https://example.com/up" rel="noopener noreferrer nofollow">x</a>',
        ),
        ('<img src="a.png" srcset="javascript:1 1x">', '<img src="https://example.com/dir/a.png">'),
        ("<p>a\x00b</p>", "<p>ab</p>"),
        ("<h2>t</h2><table><tr><td colspan=2>c</td></tr></table>", None),
    ],
)
def test_sanitize_html(dirty: str, clean: str | None) -> None:
    result = sanitize_html(dirty, base_url=BASE)
    if clean is None:
        assert "<h2>t</h2>" in result
        assert 'colspan="2"' in result
    else:
        assert result == clean


def test_relative_urls_dropped_without_base() -> None:
    assert sanitize_html('<a href="/x">x</a>', base_url=None) == (
        '<a rel="noopener noreferrer nofollow">x</a>'
    )
    assert sanitize_html('<a href="/x">x</a>', base_url="javascript:alert(1)//") == (
        '<a rel="noopener noreferrer nofollow">x</a>'
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/a", "https://example.com/a"),
        ("  https://example.com/a\n", "https://example.com/a"),
        ("/a/b", "https://example.com/a/b"),
        ("b", "https://example.com/dir/b"),
        ("//cdn.example.net/x", "https://cdn.example.net/x"),
        ("https://ok.example/?a=1&copy=2", "https://ok.example/?a=1&copy=2"),
        ("javascript:alert(1)", None),
        (" JaVaScRiPt:alert(1)", None),
        ("jav&#x09;ascript:alert(1)", None),
        ("jav\tascript:alert(1)", None),
        ("\x01javascript:alert(1)", None),
        ("data:text/html,x", None),
        ("file:///etc/passwd", None),
        ("vbscript:x", None),
        ("ftp://example.com/x", None),
        ("mailto:a@example.com", None),
        ("http://[bad", None),
        ("http://x:99999/", None),
        ("https://example.com/" + "u" * 5000, None),
        ("", None),
        (None, None),
    ],
)
def test_safe_link(url: str | None, expected: str | None) -> None:
    assert safe_link(url, BASE) == expected


def test_safe_link_without_base_needs_absolute() -> None:
    assert safe_link("/a", None) is None
    assert safe_link("/a", "javascript:x") is None


_URL_PARTS = st.sampled_from(
    ["http://", "https://", "HTTP://", "javascript:", "jav&#x09;ascript:", "//", "/", ""]
)
_URL_TAIL = st.text(alphabet="aZ09.-_~:/?#[]@!$&'()*+,;=% \t\n\x00\x7f\\é\u00a0", max_size=30)


@settings(max_examples=600, deadline=None)
@given(_URL_PARTS, _URL_TAIL, st.sampled_from([BASE, None, "javascript:x"]))
def test_the_plain_link_shortcut_answers_as_the_general_path(
    scheme: str, rest: str, base: str | None
) -> None:
    """Most entry links take a shortcut (one regular expression); for any address it
    must give what the full check (unescaping, splitting, the port) gives."""
    url = scheme + rest
    assert safe_link(url, base) == (_safe_link(url, base) if url else None)


def test_plain_links_take_the_shortcut_and_others_do_not() -> None:
    assert _PLAIN_HTTP.fullmatch("https://news.example.com/2026/12/amazon-tiktok?utm=x#top")
    for url in ("http://x:99999/", "http://user@host/", "HTTP://x/", "http://a b/"):
        assert not _PLAIN_HTTP.fullmatch(url)


def test_clean_text_reexported() -> None:
    assert clean_text(" a\x00 b ", 10) == "a b"


class _Audit(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name.startswith("on") or name in ("style", "srcset"):
                self.problems.append(f"{tag} {name}")
            if name in ("href", "src") and value is not None:
                scheme = value.split(":", 1)[0].lower()
                if scheme not in ("http", "https", "mailto"):
                    self.problems.append(f"{tag} {name}={value}")
        if tag in ("script", "style", "svg", "math", "iframe", "form", "input"):
            self.problems.append(tag)


_FRAGMENTS = [
    "<a href='javascript:alert(1)'>",
    "<a href='jav&#x09;ascript:1'>",
    "<img src=x onerror=alert(1)>",
    "<svg><a xlink:href='javascript:1'>",
    "<script>",
    "</script>",
    "<p style='x'>",
    "<a href='/rel'>",
    "<a href='https://ok.example/'>",
    "<math>",
    "<form><input>",
    "<!--",
    "-->",
    "<iframe>",
    "&lt;",
    "\x00",
    "<",
    ">",
    '"',
    "text",
]


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_FRAGMENTS) | st.text(max_size=8), max_size=12))
def test_sanitizer_properties(parts: list[str]) -> None:
    dirty = "".join(parts)
    once = sanitize_html(dirty, base_url=BASE)
    assert sanitize_html(once, base_url=BASE) == once
    audit = _Audit()
    audit.feed(once)
    audit.close()
    assert audit.problems == []


def _one_off(dirty: str, base: str | None) -> str:
    """The sanitiser as ``nh3.clean`` builds it per call (the code before ``_cleaner``)."""
    import nh3

    from app.core.normalize import strip_controls
    from app.feeds import sanitize

    return nh3.clean(
        strip_controls(dirty),
        tags=set(sanitize.ALLOWED_TAGS),
        clean_content_tags=set(sanitize._DROP_WITH_CONTENT),
        attributes=sanitize._ATTRIBUTES,
        url_schemes=sanitize._URL_SCHEMES,
        link_rel=sanitize._LINK_REL,
        url_relative=("rewrite_with_base", base) if base else "deny",
        strip_comments=True,
    )


_LINKS = [
    "",
    "<a href='rel/x'>r</a><img src='/i.png'>",
    "<a href='https://abs.example/x'>a</a><IMG SRC=http://abs.example/i.png>",
    '<a href = "HTTPS://abs.example/">a</a>',
    "<a href='https://abs.example/'>a</a><a href='../up'>u</a>",
    "<a title='href=https://x.example/' href='rel'>t</a>",
    "<a href='&#104;ttps://abs.example/'>e</a>",
    "<a href=' https://abs.example/'>s</a>",
    "<img data-src='https://abs.example/' src='rel.png'>",
    "<a href='//proto.example/rel'>p</a>",
]


@settings(derandomize=True, max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(_FRAGMENTS + _LINKS) | st.text(max_size=8), max_size=12),
    st.sampled_from(_LINKS),
    st.sampled_from([BASE, "https://other.example/a/b/", None]),
)
def test_the_reused_sanitiser_cleans_as_a_fresh_one(
    parts: list[str], links: str, base: str | None
) -> None:
    """The sanitisers built once (one per base URL, and one shared by markup without a
    relative URL) give what ``nh3.clean`` built anew for every call gave: relative links
    resolved against the base or dropped without one, absolute ones kept."""
    dirty = "".join(parts) + links
    assert sanitize_html(dirty, base_url=base) == _one_off(dirty, base)


def test_only_markup_with_a_relative_url_needs_the_base() -> None:
    assert "https://example.com/dir/rel" in sanitize_html("<a href=rel>r</a>", base_url=BASE)
    assert "href" not in sanitize_html("<a href=rel>r</a>", base_url=None)
    absolute = "<a href='https://abs.example/x'>a</a>"
    assert sanitize_html(absolute, base_url=BASE) == sanitize_html(absolute, base_url=None)
