from datetime import UTC, datetime

import pytest

from app.core.identity import article_key, dedupe_batch
from app.core.types import ParsedEntry

FEED = "https://feeds.example.com/rss"


def entry(**fields: object) -> ParsedEntry:
    values: dict[str, object] = {"guid": None, "url": None, "title": "t"}
    values.update(fields)
    return ParsedEntry(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        # tracking parameters and fragments do not make a new article
        (entry(url="https://e.com/a?utm_source=x#c"), entry(url="https://E.com/a"), True),
        # the URL wins over the GUID: duplicate GUIDs with different links stay apart
        (entry(guid="g", url="https://e.com/a"), entry(guid="g", url="https://e.com/b"), False),
        # GUID changes every poll, same URL: same article
        (entry(guid="g1", url="https://e.com/a"), entry(guid="g2", url="https://e.com/a"), True),
        (entry(guid="g"), entry(guid="g", title="edited"), True),
        (entry(guid="g"), entry(guid="h"), False),
        (entry(title="A  b", text="x"), entry(title="a b", text="x"), True),
        (entry(title="a", text="x"), entry(title="a", text="y"), False),
    ],
)
def test_article_key_equality(a: ParsedEntry, b: ParsedEntry, same: bool) -> None:
    assert (article_key(a, FEED) == article_key(b, FEED)) is same


@pytest.mark.parametrize(
    ("item", "kind"),
    [
        (entry(guid="g", url="https://e.com/a"), "url"),
        (entry(guid="g", url="javascript:alert(1)"), "guid"),
        (entry(guid="g"), "guid"),
        (entry(), "content"),
    ],
)
def test_article_key_kind(item: ParsedEntry, kind: str) -> None:
    got_kind, key = article_key(item, FEED)
    assert got_kind == kind
    assert len(key) == 64


def test_guid_keys_depend_on_the_feed() -> None:
    item = entry(guid="1")
    assert article_key(item, FEED) != article_key(item, "https://other.example/rss")


def test_dedupe_batch_keeps_most_complete_in_first_seen_order() -> None:
    dated = datetime(2024, 1, 1, tzinfo=UTC)
    batch = [
        entry(url="https://e.com/c?utm_source=rss", title="short"),
        entry(url="https://e.com/other", title="other"),
        entry(url="https://e.com/c#x", title="long", content_html="<p>full</p>"),
        entry(url="https://e.com/c", title="dated", published_at=dated),
        entry(url="https://e.com/other", title="other again"),
    ]
    result = dedupe_batch(batch, FEED)
    assert [item.entry.title for item in result] == ["dated", "other again"]
    assert len({item.key for item in result}) == len(result)
