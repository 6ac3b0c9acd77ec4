"""What every command module shares: the sub-parser type and the database opener."""

from __future__ import annotations

import argparse
from typing import TypeAlias

from sqlalchemy.engine import make_url

from app.config import Settings
from app.store.db import Database

Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def open_db(settings: Settings, *, background: bool = False) -> Database:
    """``background``: a bulk writer (poller, re-tagging) whose SQLite writes give way
    to the web's (``app.store.db.WriteTurnstile``)."""
    return Database.from_url(settings.database_url, background=background)


def safe_url(settings: Settings) -> str:
    """The database URL with any password hidden, for messages."""
    return make_url(settings.database_url).render_as_string(hide_password=True)
