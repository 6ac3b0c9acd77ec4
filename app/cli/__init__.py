"""The ``newsmon`` command line; ``main`` is the console entry point."""

from __future__ import annotations

from app.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
