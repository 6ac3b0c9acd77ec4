"""``GET /api/v1/articles`` serialises its page without building the response models
(``schemas.article_fields``); what a client receives is exactly what the documented
models (``ArticlePageOut``/``ArticleOut``) give for the same articles, byte for byte."""

from __future__ import annotations

from datetime import timedelta

from fastapi.testclient import TestClient

from app.core.decide import ArticleDraft, Tags
from app.core.types import Evidence, ThemeTag
from app.store.articles import ArticleStore
from app.store.db import Database
from app.store.feeds import FeedStore
from app.store.flags import FlagStore
from app.web.params import TIMELINE_ORDERS, build_filter
from app.web.schemas import ArticleOut, ArticlePageOut
from tests.store.test_ingest import draft
from tests.web.test_auth_kit import NOW, make_token, make_user


def _draft(n: int, title: str, themes: tuple[ThemeTag, ...]) -> ArticleDraft:
    tags = Tags(
        "de",
        True,
        0.8734 + n / 1000,
        "Amazon und TikTok im selben Absatz",
        (Evidence("Amazon", "title", 0, 6),),
        themes,
        {t.key: t.score for t in themes},
        "v-test",
    )
    return draft(
        n,
        title=title,
        author=None if n % 2 else "Zoë Ünal",
        summary="<p>Kurz &amp; bündig — “Zitat”</p>",
        language="de",
        published_at=NOW - timedelta(minutes=n),
        published_estimated=n % 3 == 0,
        tags=tags,
    )


def _seed(db: Database) -> None:
    security = ThemeTag(
        "security",
        0.6125,
        (Evidence("Datenschutz", "summary", 3, 14), Evidence("Peking", "title", 20, 26)),
    )
    market = ThemeTag("market", 1.0, (Evidence("Händler", "text", 0, 7),))
    with db.write() as session:
        feeds = FeedStore(session)
        first = feeds.add("https://a.example/feed", now=NOW, title="Erste Zeitung").id
        second = feeds.add("https://b.example/feed", now=NOW, title="Zweite & Co").id
        store = ArticleStore(session)
        ids = store.upsert_batch(
            first,
            [
                _draft(n, f"Amazon und TikTok: Kapitel {n}", (security, market)[: n % 3])
                for n in range(7)
            ],
            now=NOW,
        ).new_ids
        store.upsert_batch(second, [_draft(1, "Amazon und TikTok: Kapitel 1", ())], now=NOW)
        FlagStore(session).create(ids[2], "important", "nachsehen", user_id=None, now=NOW)


def _expected(db: Database, base: str, query: dict[str, object], flags: bool) -> bytes:
    flt = build_filter({**query, "cursor": None}, NOW, orders=TIMELINE_ORDERS)
    with db.read() as session:
        page = ArticleStore(session).timeline(flt)
    items = [ArticleOut.of(a, base) for a in page.items]
    if not flags:
        items = [i.model_copy(update={"flags": []}) for i in items]
    return ArticlePageOut(items=items, next_cursor=page.next_cursor).model_dump_json().encode()


def test_the_timeline_body_is_the_documented_models_byte_for_byte(
    client: TestClient, db: Database
) -> None:
    _seed(db)
    base = str(client.app.state.settings.public_base)  # type: ignore[attr-defined]
    make_user(db, "ed", "editor")
    auth = {"Authorization": f"Bearer {make_token(db, 'ed', 'read')}"}

    signed_in = client.get("/api/v1/articles?limit=4", headers=auth)
    assert signed_in.status_code == 200
    assert signed_in.content == _expected(db, base, {"limit": 4}, flags=True)
    body = signed_in.json()
    assert body["next_cursor"] and len(body["items"]) == 4
    assert any(a["flags"] == ["important"] for a in body["items"])
    assert any(len(t["evidence"]) == 2 for a in body["items"] for t in a["themes"])

    visitor = client.get("/api/v1/articles?limit=4")  # flags are for signed-in users
    assert visitor.content == _expected(db, base, {"limit": 4}, flags=False)
    rest = client.get("/api/v1/articles", params={"cursor": body["next_cursor"]}, headers=auth)
    assert [a["id"] for a in rest.json()["items"]] == [
        a["id"] for a in client.get("/api/v1/articles", headers=auth).json()["items"][4:]
    ]
