"""The polling engine: due feeds → fetch → parse and tag (worker processes) → store.

The package's face is what callers outside it use: the web app starts the
in-process poller, the CLI builds a poller and runs it. Modules inside:

- ``poller``: claims due feeds, fetches them concurrently, hands bodies to the
  parse pool and records each feed's outcome;
- ``ingest``: the worker side, bytes → tagged article drafts (no I/O);
- ``preload``: imported once by the workers' fork server to warm the tagger;
- ``writer``: the group writer that batches small writes into one transaction;
- ``extraction``: the full-text worker (queued article pages → fetch → extract and
  re-tag in worker processes → store), run beside the poller; ``pages`` its worker side;
- ``wiring``: builds a poller (and the full-text worker, and the alert runner of
  ``app.alerts``) from settings; the poller's hook enqueues alert deliveries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.polling.extraction import ExtractionRunner
    from app.polling.poller import FeedResult, Poller, PollSummary, run_forever
    from app.polling.wiring import (
        in_process_poller,
        make_alert_runner,
        make_extraction_runner,
        make_poller,
    )

# What the parse workers' fork server imports before it forks them (``app.feeds.parse``).
PARSE_PRELOAD = ("app.polling.preload",)
# The poller's processes allocate millions of short-lived containers (drafts, tags,
# rows), almost all freed by reference counting: CPython's default young-generation
# threshold (700) ran a collection every ~700 of them, ~4 % of a parse worker's CPU
# and ~5 % of the main process's on the peer corpus. At 50,000 a collection runs
# ~70 times less often; cyclic garbage waits a little longer (a few MB at most).
GC_THRESHOLDS = (50_000, 50, 100)


def batch_gc() -> None:
    """For the poller's processes, once their modules are loaded: freeze what is loaded
    (never scanned again; in the fork server, never copied by the workers' collector)
    and collect less often.

    No full collection first. It walked every object of the loaded heap (~84,000 in the
    poll process, ~47,000 in the fork server: 48 and 23 ms of CPU, before the first
    request and before the workers fork) to find a few dozen objects of import-time
    cyclic garbage (66 and 23), which now stay in the frozen heap. The interpreter's
    documentation gives the same recipe for a fork server: freeze, without collecting,
    right before forking (``gc.freeze``)."""
    import gc

    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


# Loaded on first use (PEP 562): a parse worker unpickles ``app.polling.ingest`` jobs,
# and importing this package must not drag the store and SQLAlchemy (~26 MB) into it.
_HOMES = {
    "ExtractionRunner": "app.polling.extraction",
    "FeedResult": "app.polling.poller",
    "PollSummary": "app.polling.poller",
    "Poller": "app.polling.poller",
    "run_forever": "app.polling.poller",
    "in_process_poller": "app.polling.wiring",
    "make_alert_runner": "app.polling.wiring",
    "make_extraction_runner": "app.polling.wiring",
    "make_poller": "app.polling.wiring",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'app.polling' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(home), name)


__all__ = [
    "GC_THRESHOLDS",
    "PARSE_PRELOAD",
    "ExtractionRunner",
    "FeedResult",
    "PollSummary",
    "Poller",
    "batch_gc",
    "in_process_poller",
    "make_alert_runner",
    "make_extraction_runner",
    "make_poller",
    "run_forever",
]
