"""The polling engine: due feeds → fetch → parse and tag (worker processes) → store.

The package's face is what callers outside it use: the web app starts the
in-process poller, the CLI builds a poller and runs it. Modules inside:

- ``poller``: claims due feeds, fetches them concurrently, hands bodies to the
  parse pool and records each feed's outcome;
- ``ingest``: the worker side, bytes → tagged article drafts (no I/O);
- ``preload``: imported once by the workers' fork server to warm the tagger;
- ``writer``: the group writer that batches small writes into one transaction;
- ``wiring``: builds a poller from settings.
"""

from __future__ import annotations

from app.polling.poller import FeedResult, Poller, PollSummary, run_forever
from app.polling.wiring import in_process_poller, make_poller

__all__ = ["FeedResult", "PollSummary", "Poller", "in_process_poller", "make_poller", "run_forever"]
