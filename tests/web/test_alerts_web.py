"""Alerts in the browser's HTTP (the real ASGI app, both engines, a real SMTP server on
127.0.0.1): a rule made on a saved view's page, "send a test now", the failures its
owner sees, the digest form on /account, and the e-mail's one-click unsubscribe link
working end to end without a session (GET asks, POST does it; a forged or outdated
link does nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.config import Settings
from app.store.alerts import DigestStore
from app.store.db import Database
from app.store.tables import AlertRule, SavedView
from tests.support.smtpsink import Sink, smtp_sink
from tests.web.test_auth_kit import FAST_HASHER, login, make_user, seed_article

__all__ = ["smtp_sink"]
pytestmark = pytest.mark.usefixtures("fast_hasher")


@pytest.fixture
def fast_hasher(app: FastAPI) -> None:
    app.state.password_hasher = FAST_HASHER


@pytest.fixture
def settings(settings: Settings, smtp_sink: Sink, tmp_path: Path) -> Settings:
    return settings.replace(
        smtp_host=smtp_sink.host,
        smtp_port=smtp_sink.port,
        smtp_from="newsmon <alerts@newsmon.example>",
        smtp_timeout_seconds=5.0,
        base_url="http://127.0.0.1",
    )


def make_view(client: TestClient, db: Database, csrf: str, name: str, query: str) -> int:
    done = client.post("/views", data={"csrf_token": csrf, "name": name, "query": query})
    assert done.status_code == 200, done.text
    with db.read() as session:
        found = session.scalar(select(SavedView.id).where(SavedView.name == name))
    assert found is not None
    return found


def make_rule(client: TestClient, view_id: int, csrf: str, **form: str) -> int:
    data = {"csrf_token": csrf, "channel": "email", "target": "ana@example.org", **form}
    done = client.post(f"/views/{view_id}/alerts", data=data, follow_redirects=False)
    assert done.status_code == 303, done.text
    return int(done.headers["location"].rsplit("alert-", 1)[1])


def test_a_rule_from_the_view_page_a_test_e_mail_and_its_unsubscribe_link(
    app: FastAPI, client: TestClient, db: Database, smtp_sink: Sink
) -> None:
    make_user(db, "ana", "viewer")
    csrf = login(client, "ana")
    seed_article(db, "Ban ruling upheld", themes=("security",))
    view_id = make_view(client, db, csrf, "Security", "theme=security")
    page = client.get(f"/views/{view_id}")
    assert page.status_code == 200 and "New alert" in page.text
    rule_id = make_rule(client, view_id, csrf, language="de", batch="15m")
    page = client.get(f"/views/{view_id}")
    assert "Alert created on “Security”." in page.text
    assert f'id="alert-{rule_id}"' in page.text and "every 15 minutes" in page.text

    sent = client.post(f"/alerts/{rule_id}/test", data={"csrf_token": csrf})
    assert "Test sent to ana@example.org." in sent.text
    assert len(smtp_sink.messages) == 1
    message = smtp_sink.parsed()
    assert message["Subject"] == "[newsmon] Test Ihres Alarms zu „Security“"
    plain = message.get_body(("plain",))
    assert plain is not None and "Ban ruling upheld" in plain.get_content()
    link = str(message["List-Unsubscribe"]).strip()[1:-1]
    assert link in plain.get_content()
    path = link.removeprefix("http://127.0.0.1")
    assert path.startswith("/unsubscribe/r")  # signed over the rule and this address

    with TestClient(app, base_url="http://127.0.0.1") as mail_client:  # no session at all
        asked = mail_client.get(path)  # the confirm page
        assert asked.status_code == 200 and "Stop the alert e-mails" in asked.text
        assert asked.headers["referrer-policy"] == "no-referrer"
        assert enabled(db, rule_id)  # opening the link (a link scanner) stops nothing
        # RFC 8058: the mail provider's POST, no cookie, no Origin, no CSRF token
        done = mail_client.post(
            path,
            content=b"List-Unsubscribe=One-Click",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert done.status_code == 200 and "gets no more alerts" in done.text
        assert not enabled(db, rule_id)
        again = mail_client.post(path, data={"List-Unsubscribe": "One-Click"})
        assert again.status_code == 200  # idempotent
    page = client.get(f"/views/{view_id}").text
    assert "unsubscribed by ana@example.org" in page


def test_a_forged_or_outdated_unsubscribe_link_does_nothing(
    client: TestClient, db: Database
) -> None:
    make_user(db, "ana", "viewer")
    csrf = login(client, "ana")
    view_id = make_view(client, db, csrf, "Security", "theme=security")
    rule_id = make_rule(client, view_id, csrf)
    from app.alerts.unsubscribe import make_token

    secret = client.app.state.settings.secret_key  # type: ignore[attr-defined]
    good = make_token(secret, "rule", rule_id, "ana@example.org")
    forged = good[:-1] + ("0" if good[-1] != "0" else "1")
    other_rule = make_token(secret, "rule", rule_id + 1, "ana@example.org")
    wrong_key = make_token("not-the-key", "rule", rule_id, "ana@example.org")
    for token in (forged, other_rule, wrong_key, "r1.xyz", "d" + good[1:]):
        assert client.get(f"/unsubscribe/{token}").status_code == 404
        assert client.post(f"/unsubscribe/{token}").status_code in (403, 404)
    assert enabled(db, rule_id)
    # the rule now mails someone else: the old address's link stops nothing
    with db.write() as session:
        session.get(AlertRule, rule_id).target = "bob@example.org"  # type: ignore[union-attr]
    assert client.post(f"/unsubscribe/{good}").status_code == 404
    assert enabled(db, rule_id)
    # every other form still needs its CSRF token
    refused = client.post(f"/alerts/{rule_id}/delete", data={})
    assert refused.status_code == 403 and enabled(db, rule_id)


def test_failures_are_shown_to_the_rules_owner_with_the_error(
    app: FastAPI, client: TestClient, db: Database, smtp_sink: Sink
) -> None:
    make_user(db, "ed", "editor")
    make_user(db, "vera", "viewer")
    csrf = login(client, "ed")
    view_id = make_view(client, db, csrf, "Team security", "theme=security")
    with db.write() as session:  # share it with the team (the timeline's checkbox)
        session.get(SavedView, view_id).owner_id = None  # type: ignore[union-attr]
    rule_id = make_rule(client, view_id, csrf, shared="yes")
    smtp_sink.refuse = 1
    failed = client.post(f"/alerts/{rule_id}/test", data={"csrf_token": csrf})
    assert "The test failed: SMTP 451" in failed.text
    page = client.get(f"/views/{view_id}").text
    assert "Failed deliveries" in page and "try again later" in page
    with TestClient(app, base_url="http://127.0.0.1") as viewer:
        vcsrf = login(viewer, "vera")
        seen = viewer.get(f"/views/{view_id}").text
        assert f'id="alert-{rule_id}"' in seen and "Team alert" in seen
        assert "Failed deliveries" not in seen and "Send a test now" not in seen
        for action in ("test", "delete"):
            done = viewer.post(f"/alerts/{rule_id}/{action}", data={"csrf_token": vcsrf})
            assert done.status_code == 403
        paused = viewer.post(
            f"/alerts/{rule_id}/enabled", data={"csrf_token": vcsrf, "enabled": "no"}
        )
        assert paused.status_code == 403 and enabled(db, rule_id)
    assert len(smtp_sink.messages) == 0


def test_the_digest_form_on_the_account_page(client: TestClient, db: Database) -> None:
    user = make_user(db, "ana", "viewer")
    csrf = login(client, "ana")
    page = client.get("/account").text
    assert 'id="digest"' in page and "Save the digest" in page
    saved = client.post(
        "/account/digest",
        data={
            "csrf_token": csrf,
            "email": "ana@example.org",
            "frequency": "weekly",
            "weekday": "4",
            "local_time": "07:30",
            "time_zone": "Europe/Berlin",
            "language": "de",
            "enabled": "yes",
        },
    )
    assert "Digest saved." in saved.text
    assert 'value="07:30"' in saved.text and '<option value="4" selected>' in saved.text
    with db.read() as session:
        digest = DigestStore(session).get(user)
    assert digest is not None
    assert (digest.frequency, digest.weekday, digest.local_time) == ("weekly", 4, "07:30")
    bad = client.post("/account/digest", data={"csrf_token": csrf, "email": "not an address"})
    assert bad.status_code == 400
    no_token = client.post("/account/digest", data={"email": "ana@example.org"})
    assert no_token.status_code == 403


def enabled(db: Database, rule_id: int) -> bool:
    with db.read() as session:
        return bool(session.scalar(select(AlertRule.enabled).where(AlertRule.id == rule_id)))


def test_our_own_link_form_unsubscribes_with_one_post(
    app: FastAPI, client: TestClient, db: Database
) -> None:
    """The address-bound form (``/unsubscribe/<token>``, digests and the mail builder's
    default) works the same way."""
    from app.alerts.unsubscribe import make_token

    make_user(db, "ana", "viewer")
    csrf = login(client, "ana")
    view_id = make_view(client, db, csrf, "Security", "theme=security")
    rule_id = make_rule(client, view_id, csrf)
    token = make_token(app.state.settings.secret_key, "rule", rule_id, "ana@example.org")
    with TestClient(app, base_url="http://127.0.0.1") as mail_client:
        assert mail_client.get(f"/unsubscribe/{token}").status_code == 200
        assert enabled(db, rule_id)
        done = mail_client.post(f"/unsubscribe/{token}", data={"List-Unsubscribe": "One-Click"})
        assert done.status_code == 200 and not enabled(db, rule_id)


ALERT_TEMPLATES = ("view.html", "_alert_rule.html", "_account_alerts.html", "unsubscribe.html")


@pytest.mark.parametrize("name", ALERT_TEMPLATES)
def test_every_literal_in_the_alert_templates_has_german(name: str) -> None:
    import re

    from app.web.i18n import catalogue

    source = (Path(__file__).resolve().parents[2] / "templates" / name).read_text()
    literals = re.findall(r"""_\(\s*(?:"([^"]*)"|'([^']*)')""", source)
    assert literals, name
    german = catalogue("de")
    assert [a or b for a, b in literals if (a or b) not in german] == []


def test_the_view_page_in_german(client: TestClient, db: Database) -> None:
    make_user(db, "ana", "viewer")
    csrf = login(client, "ana")
    view_id = make_view(client, db, csrf, "Sicherheit", "theme=security")
    make_rule(client, view_id, csrf)
    page = client.get(f"/views/{view_id}", headers={"Accept-Language": "de"}).text
    assert "Neuer Alarm" in page and "Jetzt einen Test senden" in page
    assert "New alert" not in page and "Send a test now" not in page


def test_the_view_page_points_to_the_digest(client: TestClient, db: Database) -> None:
    make_user(db, "ana", "viewer")
    csrf = login(client, "ana")
    view_id = make_view(client, db, csrf, "Security", "theme=security")
    assert "Set up the digest" in client.get(f"/views/{view_id}").text
    client.post(
        "/account/digest",
        data={"csrf_token": csrf, "email": "ana@example.org", "local_time": "07:15"},
    )
    page = client.get(f"/views/{view_id}").text
    assert "This view is in your daily digest to ana@example.org, at 07:15." in page
