"""The parse workers' fork server, booted and stopped without importing the parser.

``ParsePool`` (``app.feeds.parse``) forks its workers from multiprocessing's fork server,
which imports the jobs' modules (the tagger) once. ``newsmon poll`` boots that server
before its own imports (SQLAlchemy, the store, the parser: ~0.5 s of CPU) when bodies
to parse are coming, so the two start-ups run on two cores instead of one after the
other; this module holds what that needs and imports only the standard library.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from multiprocessing import forkserver

_SPAWNING = threading.Lock()


@contextlib.contextmanager
def main_hidden() -> Iterator[None]:
    """``__main__`` without its ``__file__`` while a process is started.

    multiprocessing re-imports a main module that has a file and no module spec (a
    console script such as ``newsmon``) in every process it starts, so each would import
    the whole CLI (SQLAlchemy, the store: ~30 MB and ~1 s of CPU) before its first job."""
    main = sys.modules.get("__main__")
    if main is None or getattr(main, "__spec__", None) is not None:
        yield
        return
    with _SPAWNING:
        path = main.__dict__.pop("__file__", None)
        try:
            yield
        finally:
            if path is not None:
                main.__file__ = path


def start_fork_server(preload: Sequence[str]) -> None:
    """Boot the parse workers' fork server now, for a process that knows it will parse
    (a feed never fetched is due) but has its own start-up still ahead: the server's
    imports (the tagger, ~0.4 s) then run beside the caller's instead of after its first
    fetch. Returns at once; a ``ParsePool`` with the same ``preload`` forks from it."""
    multiprocessing.get_context("forkserver").set_forkserver_preload(list(preload))
    with main_hidden():
        forkserver.ensure_running()


def stop_fork_server() -> None:
    """Kill the fork server if it is still booting (it loads the tagger for seconds): a
    worker start waiting on it then fails at once instead of holding up the exit. The
    next pool starts a new one. (``_forkserver_pid`` is CPython's, 3.8 to 3.13.)"""
    server = getattr(forkserver, "_forkserver", None)
    pid = getattr(server, "_forkserver_pid", None)
    if pid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
