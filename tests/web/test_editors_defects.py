"""Issue 13's defects, end to end through the real app (both engines): each test here
failed on the code before the fix."""

from __future__ import annotations

import csv
import io
import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.store.db import Database
from tests.web.test_auth_kit import FAST_HASHER, NOW, login, make_user, seed_article


def chart_svg(html: str) -> str:
    found = re.search(r"<svg class=\"chart\".*?</svg>", html, re.S)
    assert found, "no chart on the page"
    return found.group(0)


def test_the_chart_counts_articles_once_and_covers_what_the_timeline_lists(
    client: TestClient, db: Database
) -> None:
    seed_article(db, "Amazon TikTok deal under review", themes=("market", "regulatory", "security"))
    html = client.get("/").text  # NOW is long before the last 30 days
    svg = chart_svg(html)
    desc = re.search(r'<desc id="chart-desc">(.*?)</desc>', svg, re.S)
    assert desc and desc.group(1).startswith("1 articles from"), svg
    assert "the busiest bar has 1." in desc.group(1)
    assert NOW.date().isoformat() in html  # the table links the article's day
    heights = [float(h) for h in re.findall(r'class="bar"[^>]*height="([0-9.]+)"', svg)]
    assert len([h for h in heights if h]) == 1  # one bar, one article tall, not three
    assert "<a " not in svg  # nothing focusable inside role="img" (axe nested-interactive)
    assert re.findall(r'class="label tick">(\d+)<', svg) == ["0", "1"]  # a y-axis scale
    since = client.get(f"/?since={NOW.date().isoformat()}").text
    assert "1 articles from" in since


@pytest.fixture
def fast_hasher(app: FastAPI) -> None:
    app.state.password_hasher = FAST_HASHER


def user_row(html: str, name: str) -> str:
    found = re.search(rf'<tr data-user="{name}">.*?</tr>', html, re.S)
    assert found, f"no row for {name}"
    return found.group(0)


@pytest.mark.usefixtures("fast_hasher")
def test_changing_a_role_leaves_the_account_enabled_and_disabling_asks_first(
    client: TestClient, db: Database
) -> None:
    make_user(db, "root", "admin")
    vera = make_user(db, "vera", "viewer")
    csrf = login(client, "root")
    promoted = client.post(f"/users/{vera}/role", data={"role": "editor", "csrf_token": csrf})
    row = user_row(promoted.text, "vera")
    assert 'value="editor" selected' in row and "active" in row and "disabled" not in row
    asked = client.post(f"/users/{vera}/disable", data={"csrf_token": csrf})
    assert asked.status_code == 200 and "Disable vera?" in asked.text
    assert "active" in user_row(asked.text, "vera")  # nothing happened yet
    done = client.post(f"/users/{vera}/disable", data={"csrf_token": csrf, "confirm": "yes"})
    assert "disabled" in user_row(done.text, "vera")
    enabled = client.post(f"/users/{vera}/enable", data={"csrf_token": csrf})
    assert "active" in user_row(enabled.text, "vera")
    audit = client.get("/audit").text
    assert "user.role" in audit or "changed the role" in audit


@pytest.mark.usefixtures("fast_hasher")
def test_the_last_active_admin_can_be_neither_demoted_nor_disabled(
    client: TestClient, db: Database
) -> None:
    root = make_user(db, "root", "admin")
    csrf = login(client, "root")
    demoted = client.post(f"/users/{root}/role", data={"role": "viewer", "csrf_token": csrf})
    assert demoted.status_code == 409 and "last active admin" in demoted.text
    disabled = client.post(f"/users/{root}/disable", data={"csrf_token": csrf, "confirm": "yes"})
    assert disabled.status_code == 409
    assert client.get("/users").status_code == 200  # still an admin, still logged in
    second = make_user(db, "backup", "admin")
    ok = client.post(f"/users/{second}/role", data={"role": "editor", "csrf_token": csrf})
    assert ok.status_code == 200 and 'value="editor" selected' in user_row(ok.text, "backup")


def card_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'class="card[^"]*" data-article-id="(\d+)"', html)]


def open_flag_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'<tr data-flag-id="(\d+)"', html)]


@pytest.mark.usefixtures("fast_hasher")
def test_resolving_an_irrelevant_flag_confirms_it_and_only_dismissing_brings_it_back(
    client: TestClient, db: Database
) -> None:
    make_user(db, "ed", "editor")
    article = seed_article(db, "Amazon TikTok football results")
    csrf = login(client, "ed")
    flagged = client.post(
        f"/articles/{article}/flags", data={"kind": "irrelevant", "next": "/", "csrf_token": csrf}
    )
    assert "Flagged as irrelevant." in flagged.text  # a confirmation after flagging
    assert article not in card_ids(flagged.text)
    queue = client.get("/flags").text
    assert "Confirm: not relevant, keep it hidden" in queue
    assert "Not irrelevant after all: show it again" in queue
    [flag] = open_flag_ids(queue)
    client.post(f"/flags/{flag}/resolve", data={"csrf_token": csrf})
    assert article not in card_ids(client.get("/").text)  # confirmed, still hidden
    assert "Flag closed." not in client.get("/").text  # the notice is shown once
    client.post(
        f"/articles/{article}/flags", data={"kind": "irrelevant", "next": "/", "csrf_token": csrf}
    )
    [again] = open_flag_ids(client.get("/flags").text)
    back = client.post(f"/flags/{again}/dismiss", data={"csrf_token": csrf, "next": "/"})
    assert "the article is back in the timeline" in back.text
    assert article in card_ids(back.text)  # the latest decision wins


@pytest.mark.usefixtures("fast_hasher")
def test_dismissing_the_only_irrelevant_flag_shows_the_article_again(
    client: TestClient, db: Database
) -> None:
    make_user(db, "ed", "editor")
    article = seed_article(db, "Amazon TikTok shop expands")
    csrf = login(client, "ed")
    client.post(f"/articles/{article}/flags", data={"kind": "irrelevant", "csrf_token": csrf})
    [flag] = open_flag_ids(client.get("/flags").text)
    dismissed = client.post(f"/flags/{flag}/dismiss", data={"csrf_token": csrf})
    assert dismissed.status_code == 200, dismissed.text[-3000:]
    assert article in card_ids(client.get("/").text)


@pytest.mark.usefixtures("fast_hasher")
def test_flags_show_once_are_closable_on_the_article_and_hidden_from_visitors(
    app: FastAPI, client: TestClient, db: Database
) -> None:
    make_user(db, "ed", "editor")
    article = seed_article(db, "Amazon TikTok earnings", summary="<p>Quarterly figures</p>")
    with TestClient(app, base_url="http://127.0.0.1") as visitor:
        csrf = login(client, "ed")
        client.post(
            f"/articles/{article}/flags",
            data={"kind": "important", "note": "lead for Monday", "csrf_token": csrf},
        )
        card = client.get("/").text
        assert card.count("flag-important") == 1  # one chip, no second bullet list
        page = client.get(f"/articles/{article}").text
        assert "lead for Monday" in page and 'action="/flags/' in page
        assert "Mark as handled" in page
        themes = client.get(f"/articles/{article}/themes").text
        assert "Back to the article" in themes and "Amazon TikTok earnings" in themes
        for html in (visitor.get("/").text, visitor.get(f"/articles/{article}").text):
            assert "⚑" not in html and "lead for Monday" not in html
        assert card_ids(visitor.get("/?flagged=important").text) == [article]  # filter ignored
        assert 'id="f-flagged"' not in visitor.get("/").text


@pytest.mark.usefixtures("fast_hasher")
def test_a_new_token_is_shown_once_and_a_reload_makes_no_second_one(
    client: TestClient, db: Database
) -> None:
    make_user(db, "vera", "viewer")
    csrf = login(client, "vera")
    made = client.post(
        "/account/tokens", data={"csrf_token": csrf, "name": "cli"}, follow_redirects=False
    )
    assert made.status_code == 303 and made.headers["location"] == "/account"
    shown = client.get("/account").text
    token = re.search(r'<code id="new-token">([^<]+)</code>', shown)
    assert token and token.group(1).startswith("nm_")
    reloaded = client.get("/account").text
    assert 'id="new-token"' not in reloaded  # shown once
    assert reloaded.count("/revoke") == 1  # and the reload made no second token
    answer = client.get("/api/v1/articles", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert answer.status_code == 200


def test_the_byline_shows_on_card_article_api_feeds_and_csv(
    client: TestClient, db: Database
) -> None:
    article = seed_article(db, "Amazon TikTok byline story", author="Jo Reporter")
    assert "by Jo Reporter" in client.get("/").text
    assert "by Jo Reporter" in client.get(f"/articles/{article}").text
    assert client.get(f"/api/v1/articles/{article}").json()["author"] == "Jo Reporter"
    assert "<name>Jo Reporter</name>" in client.get("/feed.atom").text
    assert client.get("/feed.json").json()["items"][0]["authors"] == [{"name": "Jo Reporter"}]
    rows = list(csv.DictReader(io.StringIO(client.get("/export.csv").text)))
    assert rows[0]["author"] == "Jo Reporter"


@pytest.mark.usefixtures("fast_hasher")
def test_the_audit_log_is_written_for_people_links_targets_and_filters(
    app: FastAPI, client: TestClient, db: Database
) -> None:
    make_user(db, "root", "admin")
    make_user(db, "ed", "editor")
    vera = make_user(db, "vera", "viewer")
    article = seed_article(db, "Amazon TikTok audit story")
    with TestClient(app, base_url="http://127.0.0.1") as editor:
        ed_csrf = login(editor, "ed")
        editor.post(f"/articles/{article}/flags", data={"kind": "important", "csrf_token": ed_csrf})
        editor.post(
            f"/articles/{article}/themes",
            data={"theme": ["market", "security"], "relevant": "", "csrf_token": ed_csrf},
        )
    csrf = login(client, "root")
    client.post(f"/users/{vera}/role", data={"role": "editor", "csrf_token": csrf})
    html = client.get("/audit").text
    assert "changed the role of vera to editor" in html
    assert "flagged the article as important" in html
    assert "changed the article: themes added security" in html
    assert "add=[" not in html and "relevant=None" not in html  # no Python reprs
    assert f'<a href="/articles/{article}">' in html
    only_ed = client.get("/audit?actor=ed").text
    assert "flagged the article" in only_ed and "changed the role" not in only_ed
    flags = client.get("/audit?action=flag").text
    assert "flagged the article" in flags and "changed the article" not in flags
    assert "No entries match." in client.get("/audit?since=2199-01-01").text
    assert client.get("/audit?since=soon").status_code == 400


@pytest.mark.usefixtures("fast_hasher")
def test_times_carry_their_zone_the_users_or_the_browsers(
    app: FastAPI, client: TestClient, db: Database
) -> None:
    from sqlalchemy import update

    from app.store.tables import Article

    article = seed_article(db, "Amazon TikTok zone story")  # 12:00 UTC
    with db.write() as session:
        session.execute(update(Article).values(published_estimated=True))
    assert re.search(r"12:00\s*(PM)?\s*UTC</time>", client.get("/").text)
    page = client.get(f"/articles/{article}").text
    assert "UTC</time>" in page and "(first seen" in page
    client.cookies.set("tz", "America/New_York")  # what newsmon.js sets from the browser
    assert re.search(r"7:00\s*AM\s*EST</time>", client.get("/").text)
    client.cookies.set("tz", "Mars/Olympus")
    assert "UTC</time>" in client.get("/").text
    make_user(db, "vera", "viewer")
    csrf = login(client, "vera")
    client.post("/account/time-zone", data={"time_zone": "Europe/Berlin", "csrf_token": csrf})
    assert re.search(r"1:00\s*PM\s*CET</time>", client.get("/").text)
    bad = client.post("/account/time-zone", data={"time_zone": "Nowhere", "csrf_token": csrf})
    assert bad.status_code == 400


def test_the_card_meta_has_a_space_before_each_dot(client: TestClient, db: Database) -> None:
    seed_article(db, "Amazon TikTok spacing")
    meta = re.search(r'<p class="meta">(.*?)</p>', client.get("/").text, re.S)
    assert meta and '</time> · <span class="lang"' in re.sub(r"\s+", " ", meta.group(1))


def test_feeds_page_says_errors_for_people_and_no_http_200(
    client: TestClient, db: Database
) -> None:
    from sqlalchemy import update

    from app.store.tables import Feed

    seed_article(db, "Amazon TikTok feed health")
    with db.write() as session:
        session.execute(
            update(Feed).values(
                last_status="error",
                last_http_status=200,
                consecutive_failures=1,
                last_error="ConnectError: [Errno -2] Name or service not known",
            )
        )
    html = client.get("/feeds").text
    assert "the host name does not resolve" in html and ">ConnectError: [Errno" not in html
    assert "HTTP 200" not in html


def test_excerpts_start_and_end_at_word_boundaries() -> None:
    from app.web.highlight import snippet

    text = "alpha " * 40 + "the senator spoke about TikTok " + "omega " * 40
    cut = str(snippet(text, ("tiktok",)))
    assert cut.startswith("…alpha ") and cut.endswith("omega…")
    assert "<mark>TikTok</mark>" in cut


def test_search_finds_singular_and_plural_both_ways_on_both_engines(
    client: TestClient, db: Database
) -> None:
    one = seed_article(db, "Amazon TikTok: a senator asks questions")
    many = seed_article(db, "Amazon TikTok: senators ask questions", minutes_ago=5)
    german = seed_article(db, "Amazon TikTok: Fragen zur Datensicherheit", minutes_ago=10)
    assert set(card_ids(client.get("/?q=senators").text)) == {one, many}
    assert set(card_ids(client.get("/?q=senator").text)) == {one, many}
    assert card_ids(client.get("/?q=Sicherheiten").text) == [german]  # compound part, plural
    assert card_ids(client.get("/?q=sicherheit").text) == [german]
    assert card_ids(client.get('/?q="senators ask"').text) == [many]  # phrases stay exact
    api = client.get("/api/v1/articles?q=senators").json()
    assert {a["id"] for a in api["items"]} == {one, many}


@pytest.mark.usefixtures("fast_hasher")
def test_editors_add_poll_and_remove_feeds_on_the_feeds_page(
    client: TestClient, db: Database
) -> None:
    make_user(db, "ed", "editor")
    csrf = login(client, "ed")
    added = client.post("/feeds/add", data={"url": "https://wire.invalid/rss", "csrf_token": csrf})
    assert "Subscribed to https://wire.invalid/rss" in added.text and "cannot resolve" in added.text
    again = client.post("/feeds/add", data={"url": "https://wire.invalid/rss", "csrf_token": csrf})
    assert again.status_code == 409 and "already subscribed" in again.text
    bad = client.post("/feeds/add", data={"url": "file:///etc/passwd", "csrf_token": csrf})
    assert bad.status_code == 400 and "Not subscribed:" in bad.text
    feed_id = int(re.search(r'action="/feeds/(\d+)/poll"', again.text).group(1))  # type: ignore[union-attr]
    polled = client.post(f"/feeds/{feed_id}/poll", data={"csrf_token": csrf})
    assert "will be polled in a moment" in polled.text
    removed = client.post(f"/feeds/{feed_id}/remove", data={"csrf_token": csrf})
    assert "Removed" in removed.text and 'action="/feeds/' not in removed.text.split("<tbody>")[1]
