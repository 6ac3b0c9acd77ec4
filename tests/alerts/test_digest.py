"""Digests end to end: a real SMTP server (aiosmtpd) on 127.0.0.1 receives them; the
clock is simulated, the database real (SQLite file; PostgreSQL when configured).

What a user notices: the digest comes once per period at their local time (also
across a daylight-saving change), never twice even when two processes try, in their
language, with the top articles in order, the theme counts against the previous
period and a chart their mail client can show (a valid PNG, inline by cid)."""

from __future__ import annotations

import re
import struct
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from app.alerts import digest
from app.alerts.digest import due_period, latest_period, send_due
from app.alerts.png import bar_chart
from app.config import Settings
from app.store.alerts import DigestStore
from app.store.db import Database
from app.store.saved_views import SavedViewStore
from app.store.tables import Article, Outbox
from app.store.users import UserStore
from tests.support.smtpsink import Sink, smtp_sink
from tests.web.test_auth_kit import NOW, make_user, seed_article

__all__ = ["smtp_sink"]  # the fixture
BASE = "https://newsmon.example"
# NOW (tests.web.test_auth_kit) is 2025-03-01 12:00 UTC, 13:00 in Berlin. A daily digest
# at 08:00 Berlin time covering it is due on 2 March at 07:00 UTC.
DUE = datetime(2025, 3, 2, 7, 0, tzinfo=UTC)


@pytest.fixture
def mail_settings(settings: Settings, smtp_sink: Sink, tmp_path: Path) -> Settings:
    return settings.replace(
        smtp_host=smtp_sink.host,
        smtp_port=smtp_sink.port,
        smtp_from="newsmon <alerts@newsmon.example>",
        smtp_timeout_seconds=5.0,
        base_url=BASE,
    )


def seed(db: Database, *, language: str = "de", frequency: str = "daily") -> int:
    user = make_user(db, "ana", "viewer")
    with db.write() as session:
        SavedViewStore(session).create(
            "Security", "theme=security", by=UserStore(session).get(user), shared=False, now=NOW
        )
        DigestStore(session).put(
            user,
            now=NOW,
            email="ana@example.org",
            frequency=frequency,
            local_time="08:00",
            weekday=6,  # Sunday: 2 March 2025 is one
            time_zone="Europe/Berlin",
            language=language,
        )
    # this period: three security stories and a market one (not in the view)
    low = seed_article(db, "Low relevance security story", themes=("security",), minutes_ago=60)
    top = seed_article(db, "Ban ruling upheld", themes=("security", "regulatory"), minutes_ago=30)
    seed_article(db, "Data reaching Beijing", themes=("security",), minutes_ago=10)
    seed_article(db, "Checkout deal", themes=("market",), minutes_ago=20)
    # the previous period: one security story (a day earlier)
    seed_article(db, "Older security story", themes=("security",), minutes_ago=24 * 60 + 5)
    with db.write() as session:
        session.execute(update(Article).where(Article.id == top).values(relevance_score=0.99))
        session.execute(update(Article).where(Article.id == low).values(relevance_score=0.31))
    return user


def test_the_digest_comes_once_at_the_local_time(
    db: Database, mail_settings: Settings, smtp_sink: Sink
) -> None:
    seed(db)
    assert send_due(db, mail_settings, DUE - timedelta(minutes=1)) == 0  # 07:59 in Berlin
    assert smtp_sink.messages == []
    assert send_due(db, mail_settings, DUE) == 1
    assert send_due(db, mail_settings, DUE + timedelta(seconds=30)) == 0
    assert send_due(db, mail_settings, DUE + timedelta(hours=5)) == 0
    assert len(smtp_sink.messages) == 1
    sender, recipients, _ = smtp_sink.messages[0]
    assert sender == "alerts@newsmon.example"
    assert recipients == ["ana@example.org"]
    # the next day, at the same local time, the next one
    assert send_due(db, mail_settings, DUE + timedelta(days=1) - timedelta(minutes=1)) == 0
    assert send_due(db, mail_settings, DUE + timedelta(days=1, minutes=1)) == 1
    assert len(smtp_sink.messages) == 2
    with db.read() as session:
        rows = session.execute(select(Outbox.subject_key, Outbox.status, Outbox.message_id)).all()
    assert sorted((k, s) for k, s, _ in rows) == [
        ("d:daily:2025-03-02", "sent"),
        ("d:daily:2025-03-03", "sent"),
    ]
    first = smtp_sink.parsed(0)
    assert first["Message-ID"] in {m for _, _, m in rows}  # recorded before it was sent


def test_two_senders_at_once_send_one_digest(
    db: Database, mail_settings: Settings, smtp_sink: Sink
) -> None:
    """Two pollers read the same settings (neither has sent yet); the outbox's unique
    key lets one of them send."""
    seed(db)
    with db.read() as session:
        (setting,) = DigestStore(session).enabled()
    sent = [digest._send_new(db, mail_settings, setting, DUE) for _ in range(2)]
    assert sorted(sent) == [0, 1]
    assert len(smtp_sink.messages) == 1


def test_a_refused_digest_is_retried_and_arrives_once(
    db: Database, mail_settings: Settings, smtp_sink: Sink
) -> None:
    seed(db)
    smtp_sink.refuse = 1
    assert send_due(db, mail_settings, DUE) == 0
    with db.read() as session:
        status, error = session.execute(select(Outbox.status, Outbox.last_error)).one()
    assert status == "failed" and "451" in (error or "")  # shown to the user with the error
    assert send_due(db, mail_settings, DUE + timedelta(seconds=10)) == 0  # backoff: not yet
    assert send_due(db, mail_settings, DUE + timedelta(minutes=2)) == 1
    assert send_due(db, mail_settings, DUE + timedelta(minutes=10)) == 0
    assert len(smtp_sink.messages) == 1


def test_the_german_digest_reads_well(
    db: Database, mail_settings: Settings, smtp_sink: Sink
) -> None:
    seed(db, language="de")
    assert send_due(db, mail_settings, DUE) == 1
    message = smtp_sink.parsed()
    assert message["Subject"] == "[newsmon] Ihre tägliche Zusammenfassung, 02.03.2025"
    assert message["Content-Language"] == "de"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert str(message["List-Unsubscribe"]).strip().startswith(f"<{BASE}/unsubscribe/d")
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    text, markup = plain.get_content(), html.get_content()
    for body in (text, markup):
        assert "Ihre tägliche Zusammenfassung" in body
        assert "Security" in body
        # three this period, one before; the market story is not in the view
        assert "3 Artikel (vorheriger Zeitraum: 1)" in body
        assert "Checkout deal" not in body
        assert "Sicherheit" in body and "Regulierung" in body
    # top articles by relevance: the 0.99 story first, the 0.31 story last
    order = [text.index(t) for t in ("Ban ruling upheld", "Data reaching Beijing")]
    assert order == sorted(order)
    assert text.index("Data reaching Beijing") < text.index("Low relevance security story")
    # theme counts against the previous period: security 3 / 1 / +2
    assert re.search(r"Sicherheit: 3 / 1 / \+2", text)
    assert f"{BASE}/views/" in text


def test_the_chart_is_an_inline_png_a_mail_client_shows(
    db: Database, mail_settings: Settings, smtp_sink: Sink
) -> None:
    seed(db, language="en")
    assert send_due(db, mail_settings, DUE) == 1
    message = smtp_sink.parsed()
    assert message["Subject"] == "[newsmon] Your daily digest, Mar 2, 2025"
    assert message.get_content_type() == "multipart/alternative"
    html = message.get_body(("html",))  # inside the multipart/related
    assert html is not None and html.get_content_type() == "text/html"
    related = next(p for p in message.iter_parts() if p.get_content_type() == "multipart/related")
    images = [p for p in related.iter_parts() if p.get_content_type() == "image/png"]
    assert len(images) == 1
    image = images[0]
    cid = str(image["Content-ID"]).strip("<>")
    assert f'src="cid:{cid}"' in html.get_content()
    assert image.get_content_disposition() == "inline"
    assert not any(p.get_content_type() == "image/svg+xml" for p in message.walk())
    data = image.get_content()
    assert isinstance(data, bytes)
    width, height, pixels = decode_png(data)
    assert (width, height) == (480, 120)
    assert (37, 99, 235) in pixels  # the bars are drawn, not only the background
    # the chart's numbers are text too (alt), for readers who see no images
    assert re.search(r'alt="Articles per hour in “Security”: [0-9, ]+"', html.get_content())


def decode_png(data: bytes) -> tuple[int, int, set[tuple[int, int, int]]]:
    """A strict reading of what ``app.alerts.png`` writes: the signature, every chunk's
    CRC, IHDR first and IEND last, and the pixel rows (filter 0) of an RGB image."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, []
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert zlib.crc32(kind + body) & 0xFFFFFFFF == crc, kind
        chunks.append((kind, body))
        pos += 12 + length
    assert chunks[0][0] == b"IHDR" and chunks[-1] == (b"IEND", b"")
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour, interlace) == (8, 2, 0)
    raw = zlib.decompress(b"".join(b for k, b in chunks if k == b"IDAT"))
    stride = width * 3 + 1
    assert len(raw) == stride * height
    pixels = set()
    for y in range(height):
        row = raw[y * stride : (y + 1) * stride]
        assert row[0] == 0
        pixels.update(zip(row[1::3], row[2::3], row[3::3], strict=True))
    return width, height, pixels


def test_bar_chart_edges() -> None:
    for values in ([], [0, 0, 0], [5], list(range(200))):
        width, height, pixels = decode_png(bar_chart(values, previous=[1] * len(values)))
        assert (width, height) == (480, 120) and (255, 255, 255) in pixels


def test_periods_follow_the_local_clock_across_daylight_saving() -> None:
    berlin = "Europe/Berlin"
    # Europe/Berlin moves to summer time on 30 March 2025: 08:00 is 07:00 UTC before
    # and 06:00 UTC after; the period in between is 23 hours long.
    before = latest_period("daily", "08:00", 0, berlin, datetime(2025, 3, 29, 7, 0, tzinfo=UTC))
    after = latest_period("daily", "08:00", 0, berlin, datetime(2025, 3, 30, 6, 0, tzinfo=UTC))
    assert before.at == datetime(2025, 3, 29, 7, 0, tzinfo=UTC)
    assert after.at == datetime(2025, 3, 30, 6, 0, tzinfo=UTC)
    assert after.at - after.start == timedelta(hours=23)
    # a minute early it is still the previous day's period
    early = latest_period("daily", "08:00", 0, berlin, datetime(2025, 3, 30, 5, 59, tzinfo=UTC))
    assert early.key == "daily:2025-03-29"
    # weekly on Mondays (0): the latest Monday 08:00, seven days covered
    week = latest_period("weekly", "08:00", 0, berlin, datetime(2025, 3, 5, 12, 0, tzinfo=UTC))
    assert week.key == "weekly:2025-03-03" and week.at - week.start == timedelta(days=7)


def test_a_new_digest_starts_with_the_next_due_time_not_a_stale_one() -> None:
    at = datetime(2025, 3, 2, 7, 0, tzinfo=UTC)
    assert due_period("daily", "08:00", 0, "Europe/Berlin", None, at) is not None
    later = at + timedelta(hours=3)
    assert due_period("daily", "08:00", 0, "Europe/Berlin", None, later) is None
    # once sent before, a poller that was down a few hours still sends today's
    assert due_period("daily", "08:00", 0, "Europe/Berlin", "daily:2025-03-01", later)
    assert due_period("daily", "08:00", 0, "Europe/Berlin", "daily:2025-03-02", later) is None


def test_a_sender_killed_before_the_hand_over_sends_later_once(
    db: Database, mail_settings: Settings, smtp_sink: Sink, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed after claiming the period but before SMTP DATA: nothing left, so the
    digest goes once the lease is over; the alert runner never takes the row."""
    from app.store.alerts import OutboxStore

    seed(db)

    def killed(*args: object, **kwargs: object) -> None:
        raise SystemExit("killed")  # not an Exception: nothing records a failure

    monkeypatch.setattr(digest, "deliver", killed)
    with pytest.raises(SystemExit):
        send_due(db, mail_settings, DUE)
    monkeypatch.undo()
    assert send_due(db, mail_settings, DUE + timedelta(minutes=1)) == 0  # still leased
    later = DUE + digest.LEASE + timedelta(seconds=1)
    with db.write() as session:
        claimed = OutboxStore(session).claim_due(now=later, owner="runner", lease=timedelta(1))
    assert claimed == []  # digest rows are never the alert runner's
    assert send_due(db, mail_settings, later) == 1
    assert send_due(db, mail_settings, later + digest.LEASE * 2) == 0
    assert len(smtp_sink.messages) == 1
    with db.read() as session:
        assert session.scalars(select(Outbox.status)).all() == ["sent"]


def test_view_names_and_titles_are_text_in_the_digest(
    db: Database, mail_settings: Settings, smtp_sink: Sink
) -> None:
    user = seed(db, language="en")
    hostile = '<img src=x onerror="alert(1)">'
    with db.write() as session:
        SavedViewStore(session).create(
            hostile, "theme=security", by=UserStore(session).get(user), shared=False, now=NOW
        )
    seed_article(db, "<script>alert(2)</script> story", themes=("security",), minutes_ago=5)
    assert send_due(db, mail_settings, DUE) == 1
    html = smtp_sink.parsed().get_body(("html",))
    assert html is not None
    markup = html.get_content()
    assert "<img src=x" not in markup and "<script>" not in markup
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in markup
    assert "&lt;script&gt;alert(2)&lt;/script&gt; story" in markup
    assert markup.count('src="cid:') == 2  # a chart per view


def test_a_weekly_digest_comes_on_its_day_and_covers_the_week(
    db: Database, mail_settings: Settings, smtp_sink: Sink
) -> None:
    seed(db, language="de", frequency="weekly")  # Sundays at 08:00; 2 March 2025 is one
    assert send_due(db, mail_settings, DUE) == 1
    assert send_due(db, mail_settings, DUE + timedelta(days=1)) == 0  # Monday: nothing
    message = smtp_sink.parsed()
    assert message["Subject"] == "[newsmon] Ihre wöchentliche Zusammenfassung, 02.03.2025"
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    # the whole week: the three stories and the one a day older
    assert "4 Artikel (vorheriger Zeitraum: 0)" in plain.get_content()
    assert "Artikel pro Tag in „Security“" in html.get_content()  # a bar per day
    assert send_due(db, mail_settings, DUE + timedelta(days=7)) == 1
    assert len(smtp_sink.messages) == 2


def test_the_alert_runner_sends_the_due_digest_once_and_none_without_one(
    db: Database, mail_settings: Settings, smtp_sink: Sink
) -> None:
    """The poller's alert runner is what sends digests in production: with no digest
    enabled its round sends none, then a user's digest goes out once at its time."""
    import asyncio

    from app.alerts.runner import AlertRunner

    async def round_at(when: datetime) -> int:
        runner = AlertRunner(db, mail_settings, clock=lambda: when, spikes=False)
        try:
            return (await runner.run_once()).digests
        finally:
            await runner.aclose()

    assert asyncio.run(round_at(DUE)) == 0  # nobody has a digest yet
    seed(db)
    assert asyncio.run(round_at(DUE - timedelta(minutes=1))) == 0
    assert asyncio.run(round_at(DUE)) == 1
    assert asyncio.run(round_at(DUE + timedelta(minutes=1))) == 0
    assert len(smtp_sink.messages) == 1
    assert smtp_sink.messages[0][1] == ["ana@example.org"]
