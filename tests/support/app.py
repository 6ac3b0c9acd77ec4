"""The real ASGI app and a real poller wired to the test database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from fastapi import FastAPI

from app.config import Settings
from app.feeds.http import FetchPolicy
from app.polling.poller import Poller
from app.store.db import Database
from tests.support.db import DbTarget
from tests.support.fixtures import TEST_POLICY

if TYPE_CHECKING:
    from fastapi.testclient import TestClient


@pytest.fixture
def settings(db_target: DbTarget, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_target.url,
        data_dir=tmp_path / "data",
        secret_key="test-secret-key-" + "x" * 32,
        poll=False,
        default_feeds=False,
    )


@pytest.fixture
def app(settings: Settings, db: Database) -> FastAPI:
    from app.web.app import create_app

    return create_app(settings, db=db, run_poller=False)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    # Imported here: the module warns at import time, before pytest's filters apply.
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.fixture
def loopback_policy() -> FetchPolicy:
    """Private networks allowed: for end-to-end tests whose feeds live on 127.0.0.1."""
    return replace(TEST_POLICY, allow_private_networks=True)


@pytest.fixture(scope="session")
def tagger_loaded() -> None:
    """Load the tagger once, before any poll: in-process parsing would otherwise spend
    its first seconds loading it inside whichever test polls first."""
    from app.tagging import load_tagger

    load_tagger()


@pytest.fixture
def make_test_poller(
    db: Database, loopback_policy: FetchPolicy, tagger_loaded: None
) -> Callable[..., Poller]:
    """Build pollers on the test database; parsing in-process unless asked otherwise."""

    def build(policy: FetchPolicy | None = None, **kwargs: Any) -> Poller:
        kwargs.setdefault("parse_workers", 0)
        return Poller(db, policy or loopback_policy, **kwargs)

    return build
