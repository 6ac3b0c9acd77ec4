import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.urls import canonical_url, url_hash

CASES = [
    ("HTTP://Example.COM", "http://example.com/"),
    ("https://example.com:443/a", "https://example.com/a"),
    ("http://example.com:80/a", "http://example.com/a"),
    ("http://example.com:8080/a", "http://example.com:8080/a"),
    ("https://example.com/a#frag", "https://example.com/a"),
    ("https://example.com/a/./b/../c", "https://example.com/a/c"),
    ("https://example.com/a/..", "https://example.com/"),
    ("https://example.com/%7euser/%2f%e2", "https://example.com/~user/%2F%E2"),
    ("https://example.com/a b", "https://example.com/a%20b"),
    ("https://bücher.example/x", "https://xn--bcher-kva.example/x"),
    ("https://example.com./x", "https://example.com/x"),
    ("https://example.com/?b=2&a=1&a=0", "https://example.com/?a=1&a=0&b=2"),
    ("https://example.com/?utm_source=rss&utm_MEDIUM=x&id=1", "https://example.com/?id=1"),
    ("https://example.com/?fbclid=1&gclid=2&dclid=3&msclkid=4", "https://example.com/"),
    ("https://example.com/?mc_cid=1&mc_eid=2&igshid=3&ref_src=4", "https://example.com/"),
    ("https://example.com/?_hsenc=1&_hsmi=2&yclid=3&q=a+b", "https://example.com/?q=a+b"),
    ("https://[2001:DB8::1]:443/", "https://[2001:db8::1]/"),
]


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_canonical_url(raw: str, expected: str) -> None:
    assert canonical_url(raw) == expected
    assert canonical_url(expected) == expected


@pytest.mark.parametrize(
    "raw", ["javascript:alert(1)", "file:///etc/passwd", "/relative", "https://", "http://x:99999/"]
)
def test_canonical_url_refuses_non_http(raw: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message varies with the cause
        canonical_url(raw)


def test_url_hash_is_sha256_hex() -> None:
    digest = url_hash("https://example.com/")
    assert len(digest) == 64
    assert int(digest, 16) >= 0


_segment = st.text(alphabet="abcAB%20-._~é/ ?=&", max_size=12)
_urls = st.builds(
    lambda scheme, host, path, query, frag: f"{scheme}://{host}/{path}?{query}#{frag}",
    st.sampled_from(["http", "HTTPS"]),
    st.sampled_from(["Example.com", "bücher.de", "x.org:8080", "[::1]"]),
    _segment,
    _segment,
    _segment,
)


@settings(derandomize=True, max_examples=300, deadline=None)
@given(_urls, st.sampled_from(["utm_source=x", "fbclid=1", "utm_campaign=y&gclid=2"]))
def test_canonical_url_properties(url: str, tracking: str) -> None:
    try:
        canonical = canonical_url(url)
    except ValueError:
        return
    assert canonical_url(canonical) == canonical
    base, _, _ = url.partition("#")
    joiner = "&" if "?" in base else "?"
    assert canonical_url(f"{base}{joiner}{tracking}#other") == canonical
