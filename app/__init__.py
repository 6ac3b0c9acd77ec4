"""newsmon: a news-monitoring dashboard (pollers, tagger, timeline, API)."""

import sys

__version__ = "0.1.0"

# `import httpx` imports httpx's own command-line tool, and with it click, rich and
# pygments (~0.1-0.15 s per process), whenever they are installed (encode/httpx#3547).
# newsmon never runs that tool; a None entry makes httpx skip it, as if they were absent.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
