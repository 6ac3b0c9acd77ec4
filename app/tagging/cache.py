"""Where the tagger keeps files derived from its dependencies' data (``NEWSMON_CACHE_DIR``,
default ``$XDG_CACHE_HOME/newsmon``, else ``~/.cache/newsmon``): simplemma's dictionaries
as tries (``lemmas``) and py3langid's restricted model (``language``). Each is made by the
first process that needs it and read by the others; deleting the directory is safe."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    root = os.environ.get("NEWSMON_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "newsmon"
    )
    return Path(root)


def writable_dir(*parts: str) -> Path | None:
    """``cache_root() / parts``, created; None where it cannot be made or written (the
    callers then load the bundled data as if there were no cache)."""
    where = cache_root().joinpath(*parts)
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return where if os.access(where, os.W_OK | os.X_OK) else None
