"""One poller per SQLite database: an advisory lock file beside the database.

PostgreSQL needs none: pollers share the work through SKIP LOCKED claims.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from app.core.errors import Conflict


@contextmanager
def poller_lock(database_url: str) -> Iterator[None]:
    """Hold the poller lock of a SQLite database, or raise ``Conflict`` if taken."""
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        yield
        return
    # Keyed on the file, not the spelling: a symlink to the database (or to a folder on
    # its path) resolves to the same lock; "./x.db" and "x.db" too.
    path = Path(os.path.realpath(url.database) + ".poller.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise Conflict(
                f"another poller (pid {holder}) is running on this SQLite database; "
                "use PostgreSQL to run several"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)
