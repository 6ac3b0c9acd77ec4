"""XSS payloads in titles, authors, outlet names and content never run in Chromium.

The page fixture fails the test on any dialog, console error or page error; the
payloads also set a global, checked afterwards, in case a dialog were suppressed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.config import Settings
from app.store import migrate
from app.store.db import Database
from tests.support.browser import serve
from tests.web.test_auth_kit import PASSWORD, make_user, seed_article

pytestmark = pytest.mark.browser

PAYLOADS = [
    '"><img src=x onerror="alert(1);window.pwned=1">',
    "<script>alert(2);window.pwned=1</script>",
    "<svg onload=alert(3)>",
    "javascript:alert(4)",
    "'><a href=javascript:alert(5)>x</a>",
]


@pytest.fixture(scope="module")
def xss_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("xss")
    url = f"sqlite:///{root / 'newsmon.db'}"
    db = Database.from_url(url)
    migrate.upgrade(db.engine)
    for i, payload in enumerate(PAYLOADS):
        seed_article(
            db,
            f"Amazon TikTok {i} {payload}",
            feed_title=f"Outlet {payload}",
            author=payload,
            summary=f"<p>{payload}</p>",
            minutes_ago=i,
        )
    make_user(db, "ed", "editor")
    settings = Settings(
        database_url=url,
        data_dir=root / "data",
        secret_key="k" * 48,
        poll=False,
        default_feeds=False,
    )
    server = serve(db, settings)
    base = next(server)
    try:
        yield base
    finally:
        server.close()
        db.dispose()


@pytest.mark.parametrize(
    "path", ["/", "/?relevance=all", "/flags", "/articles/1/themes", "/feeds", "/docs"]
)
def test_payloads_never_execute(page: Any, xss_server: str, path: str, tmp_path: Path) -> None:
    page.goto(xss_server + "/login")
    page.fill("#username", "ed")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(xss_server + path)
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.pwned === undefined")
    if path == "/articles/1/themes":
        assert "<img" in page.locator("h1").inner_text()  # shown as text, not markup
