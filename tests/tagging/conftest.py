"""Fixtures of the tagging tests."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def unusable_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``NEWSMON_CACHE_DIR`` pointing at a file: no cache directory can be made there
    (the way a read-only home behaves, also when the tests run as root)."""
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monkeypatch.setenv("NEWSMON_CACHE_DIR", str(blocker))
    return blocker
