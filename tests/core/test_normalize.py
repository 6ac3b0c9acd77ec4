from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.normalize import (
    TITLE_MAX,
    URL_MAX,
    cap,
    cap_url,
    clean_text,
    from_time_tuple,
    normalise_date,
    parse_date,
    strip_controls,
)

NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Wed, 01 May 2024 10:00:00 +0200", datetime(2024, 5, 1, 8, 0, tzinfo=UTC)),
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),
        ("2024-05-01T10:00:00", datetime(2024, 5, 1, 10, 0, tzinfo=UTC)),  # naive -> UTC
        ("not a date", None),
        ("", None),
        (None, None),
        ("Fri, 31 Dec 9999 23:59:59 -1400", None),  # overflows when shifted to UTC
    ],
)
def test_parse_date(raw: str | None, expected: datetime | None) -> None:
    assert parse_date(raw) == expected


@pytest.mark.parametrize(
    ("value", "expected", "clamped"),
    [
        (None, None, False),
        (datetime(1970, 1, 1, tzinfo=UTC), None, False),  # before 1990: invalid
        (datetime(1, 1, 1, tzinfo=UTC), None, False),
        (NOW + timedelta(hours=23), NOW + timedelta(hours=23), False),  # within skew
        (NOW + timedelta(days=2), NOW, True),
        (datetime(9999, 12, 31, tzinfo=UTC), NOW, True),
        (
            datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=2))),
            datetime(2024, 5, 1, 10, tzinfo=UTC),
            False,
        ),
    ],
)
def test_normalise_date(value: datetime | None, expected: datetime | None, clamped: bool) -> None:
    result = normalise_date(value, now=NOW)
    assert (result.value, result.clamped) == (expected, clamped)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        ((2024, 5, 1, 10, 0, 0, 2, 122, 0), datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ((2024, 2, 30, 0, 0, 0), None),
        ((2024, 1, 1, 0, 0, 60), datetime(2024, 1, 1, 0, 0, 59, tzinfo=UTC)),  # leap second
        (None, None),
        ((2024,), None),
    ],
)
def test_from_time_tuple(parts: tuple[int, ...] | None, expected: datetime | None) -> None:
    assert from_time_tuple(parts) == expected


@pytest.mark.parametrize(
    ("raw", "max_len", "expected"),
    [
        ("  a \t b\n\nc  ", 100, "a b c"),
        ("nul\x00here\x0bvt\x7f", 100, "nulherevt"),
        ("rtl \u202e and zw\u200b kept", 100, "rtl \u202e and zw\u200b kept"),
        ("lone \ud800 surrogate", 100, "lone surrogate"),
        ("abcdef", 4, "abc…"),
        ("abc def", 5, "abc…"),
        ("😀😀😀", 2, "😀…"),
        ("x" * 2000, TITLE_MAX, "x" * (TITLE_MAX - 1) + "…"),
    ],
)
def test_clean_text(raw: str, max_len: int, expected: str) -> None:
    assert clean_text(raw, max_len) == expected
    assert len(clean_text(raw, max_len)) <= max_len


def test_strip_controls_keeps_layout() -> None:
    assert strip_controls("a\tb\nc\r\x00\x1f\x85") == "a\tb\nc\r"


def test_caps() -> None:
    assert cap("", 0) == ""
    assert cap_url("https://e.com/" + "u" * URL_MAX) is None
    assert cap_url("https://e.com/") == "https://e.com/"


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_parse_date_never_raises(raw: str) -> None:
    result = parse_date(raw)
    if result is not None:
        assert result.tzinfo is UTC
        normalise_date(result, now=NOW)


@settings(derandomize=True, max_examples=500, deadline=None)
@given(st.text(alphabet=" \t\r\n\x0b\x0c\x1c\x1f\x85\u00a0\u2028\u3000\u200bab.", max_size=40))
def test_clean_text_collapses_whitespace_as_the_pattern_did(value: str) -> None:
    """``clean_text`` joins ``str.split()``'s words: the same text as substituting one
    space for every ``\\s+`` run and stripping, for every Unicode space."""
    import re

    from app.core.normalize import clean_text, strip_controls

    runs = re.compile(r"\s+")  # the pattern clean_text used
    assert clean_text(value, 100) == runs.sub(" ", strip_controls(value)).strip()


def test_strip_controls_removes_every_control_and_nothing_else() -> None:
    """Every code point, in blocks: printable text skips the regex, so the check holds
    that no character the pattern removes is printable (what the shortcut relies on)."""
    import re

    pattern = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
    for start in range(0, 0x110000, 4096):
        block = "".join(map(chr, range(start, min(start + 4096, 0x110000))))
        assert strip_controls(block) == pattern.sub("", block)
        for ch in pattern.findall(block):
            assert not ch.isprintable()
    kept = "Händler \u00e9t\u00e9 \u201cok\u201d"
    assert strip_controls(kept) == kept
    assert strip_controls("bad\ud800 pair\ufffe") == "bad pair"
