"""A parse worker's result crosses to the poller as plain tuples (``PreparedFeed``'s
own pickling) and comes back equal, nested tags, themes and evidence included."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime
from pathlib import Path

from app.polling.ingest import PreparedFeed, failed, prepare_feed

DATA = Path(__file__).resolve().parents[1] / "data" / "feeds"
NOW = datetime(2026, 12, 2, 6, 0, tzinfo=UTC)
RSS = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>
<link>https://wire.example/</link><description>d</description>
<item><title>Ransomware attack halts port operations</title>
<link>https://wire.example/a</link><pubDate>Tue, 01 Dec 2026 10:00:00 GMT</pubDate>
<description>A ransomware attack on the port operator encrypted its systems; the data
protection authority opened an investigation under the GDPR and fined the company.
Shares fell 12 percent on the stock exchange.</description></item>
<item><title>Untagged item</title><link>https://wire.example/b</link></item>
</channel></rss>"""


def test_a_prepared_feed_survives_the_trip_from_a_worker() -> None:
    bodies = [RSS, (DATA / "full.rss").read_bytes(), (DATA / "atom.xml").read_bytes()]
    for body in bodies:
        prepared = prepare_feed(body, "https://wire.example/feed", {}, NOW)
        assert prepared.drafts and prepared.error is None
        back = pickle.loads(pickle.dumps(prepared))
        assert back == prepared
        assert [type(d.tags.themes) for d in back.drafts] == [tuple] * len(back.drafts)
    tagged = prepare_feed(RSS, "https://wire.example/feed", {}, NOW)
    themes = [t for d in tagged.drafts for t in d.tags.themes]
    assert themes and any(t.evidence for t in themes)  # the nesting was exercised
    assert any(d.tags.relevance_evidence for d in tagged.drafts)
    assert pickle.loads(pickle.dumps(failed("not a feed"))) == failed("not a feed")


def test_the_pickle_holds_no_dataclass_state() -> None:
    prepared = prepare_feed(RSS, "https://wire.example/feed", {}, NOW)
    blob = pickle.dumps(prepared)
    assert b"ArticleDraft" not in blob and b"Evidence" not in blob  # built by _rebuild
    assert isinstance(pickle.loads(blob), PreparedFeed)
