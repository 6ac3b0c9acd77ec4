"""Fixtures of the alerts tests: real receivers, settings pointing at them, users and
views, a poller with the alert hook, and a runner with a clock the test moves."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.alerts.hook import NewMatchHook
from app.alerts.runner import AlertRunner
from app.config import Settings, load_settings
from app.polling.poller import Poller
from app.store.db import Database
from app.store.saved_views import SavedViewStore
from app.store.users import UserStore, UserView
from tests.alerts.receivers import SmtpServer, WebhookReceiver

SECRET_KEY = "alerts-test-secret-key"


class Clock:
    """Real time unless moved on: ``advance`` shifts every later reading."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **kwargs: float) -> None:
        self.offset += timedelta(**kwargs)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver(secret="whsec-test") as server:
        yield server


@pytest.fixture
def settings(smtp_server: SmtpServer, tmp_path: Path) -> Settings:
    return load_settings(
        secret_key=SECRET_KEY,
        data_dir=tmp_path / "data",
        base_url="https://newsmon.test",
        webhook_allowlist=["127.0.0.0/8"],
        alert_retry_seconds=30.0,
        alert_max_failures=3,
        **smtp_server.settings(),
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def runner(db: Database, settings: Settings, clock: Clock) -> AlertRunner:
    return AlertRunner(db, settings, clock=clock, digests=False)


@pytest.fixture
def users(db: Database) -> dict[str, UserView]:
    now = datetime.now(UTC)
    with db.write() as session:
        store = UserStore(session)
        return {
            "editor": store.create("erika", "long enough pw", "editor", now=now),
            "viewer": store.create("viktor", "long enough pw", "viewer", now=now),
            "other": store.create("otto", "long enough pw", "viewer", now=now),
        }


@pytest.fixture
def make_view(db: Database, users: dict[str, UserView]) -> Callable[..., int]:
    def make(name: str, query: str, *, by: str = "editor", shared: bool = True) -> int:
        with db.write() as session:
            return (
                SavedViewStore(session)
                .create(name, query, by=users[by], shared=shared, now=datetime.now(UTC))
                .id
            )

    return make


@pytest.fixture
def alert_poller(make_test_poller: Callable[..., Poller]) -> Callable[..., Poller]:
    """A poller with the alert hook, as ``make_poller`` wires it."""

    def build(**kwargs: Any) -> Poller:
        return make_test_poller(on_new=NewMatchHook(), **kwargs)

    return build
