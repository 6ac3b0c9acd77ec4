"""axe-core on every page, for every role, in English and German, at 1366 and 390 px
(and dark mode on the phone): no serious or critical violation anywhere. One browser,
one context per role and language; each page is loaded once per pass."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.alerts.unsubscribe import make_token
from app.config import Settings
from app.store import migrate
from app.store.alerts import AlertRuleStore, DigestStore, OutboxItem, OutboxStore
from app.store.db import Database
from app.store.saved_views import SavedViewStore
from app.store.users import UserStore
from tests.support.axe import axe_source, violations
from tests.support.browser import LiveServer, seed_corpus, serve
from tests.web.test_auth_kit import NOW, PASSWORD, make_user

pytestmark = pytest.mark.browser
# Both widths in the light scheme; the phone in English also in the dark one.
PASSES = ((1366, "light"), (390, "light"), (390, "dark"))
SECRET = "k" * 48


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("axe")
    url = f"sqlite:///{root / 'newsmon.db'}"
    db = Database.from_url(url)
    migrate.upgrade(db.engine)
    ids = seed_corpus(db, count=8)
    for name, role in (("vera", "viewer"), ("ed", "editor"), ("ada", "admin")):
        make_user(db, name, role)
    seed_alerts(db)
    settings = Settings(
        database_url=url,
        data_dir=root / "data",
        secret_key=SECRET,
        poll=False,
        default_feeds=False,
    )
    server = serve(db, settings)
    try:
        yield LiveServer(db=db, base_url=next(server), article_ids=ids)
    finally:
        server.close()
        db.dispose()


def pages_for(role: str, article: int) -> list[str]:
    """Each role's pages; the public ones once (as a visitor), the signed-in roles the
    pages that differ for them (navigation, forms), to keep the sweep quick."""
    return {
        "anonymous": [
            "/",
            f"/articles/{article}",
            "/feeds",
            "/?q=tiktok&theme=security",
            "/?group=source",  # the chart split by outlet (share of voice)
            "/?group=lang",
            "/nowhere",
            "/login",
            f"/unsubscribe/{make_token(SECRET, 'rule', 1, 'vera@example.org')}",
        ],
        "viewer": ["/", "/account", "/views", "/views/1"],
        "editor": [
            f"/articles/{article}",
            "/flags",
            f"/articles/{article}/themes",
            "/feeds",
            "/?q=tiktok&theme=security",
        ],
        "admin": ["/users", "/audit"],
    }[role]


def seed_alerts(db: Database) -> None:
    """Vera's view 1 with an e-mail alert (rule 1) whose last delivery failed, and her
    digest: the view page and /account show the rule, its failures and the forms."""
    with db.write() as session:
        vera = UserStore(session).find("vera")
        view = SavedViewStore(session).create(
            "Security", "theme=security", by=vera, shared=False, now=NOW
        )
        rule = AlertRuleStore(session, SECRET).create(
            view.id, by=vera, now=NOW, channel="email", target="vera@example.org"
        )
        outbox = OutboxStore(session)
        outbox.enqueue([OutboxItem("email", "t:seed", "test", rule_id=rule.id)], now=NOW)
        ids = [d.id for d in outbox.for_rule(rule.id)]
        outbox.mark_failed(ids, "SMTP 451: try again later", now=NOW, retry_at=None)
        DigestStore(session).put(vera.id, now=NOW, email="vera@example.org")


USERS = {"anonymous": None, "viewer": "vera", "editor": "ed", "admin": "ada"}


@pytest.mark.parametrize("locale", ["en", "de"])
@pytest.mark.parametrize("role", list(USERS))
def test_no_serious_axe_violation_on_any_page(
    browser: Any, site: LiveServer, role: str, locale: str
) -> None:
    source = axe_source()
    context = browser.new_context(locale="de-DE" if locale == "de" else "en-GB", bypass_csp=True)
    page = context.new_page()
    try:
        if USERS[role]:
            page.goto(site.url("/login"))
            page.fill("#username", USERS[role])
            page.fill("#password", PASSWORD)
            page.locator("form.login button[type=submit]").click()
            page.wait_for_url(site.url("/"))
        found = []
        for width, scheme in PASSES if locale == "en" else PASSES[:2]:
            page.set_viewport_size({"width": width, "height": 900})
            page.emulate_media(color_scheme=scheme)
            for path in pages_for(role, site.article_ids[0]):
                page.goto(site.url(path))
                assert page.locator("html").get_attribute("lang") == locale
                found += [f"{width}px {scheme} {path}: {v}" for v in violations(page, source)]
    finally:
        context.close()
    assert not found, "\n".join(found)
