"""The README is the newcomer's manual: it must match the code."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from app.cli import build_parser
from app.config import Settings

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")


def test_the_readme_opens_with_the_two_commands() -> None:
    first_block = README.split("```")[1]
    assert "make run" in first_block
    assert "make test" in first_block


def test_every_setting_has_a_readme_line() -> None:
    names = [f.name for f in dataclasses.fields(Settings)]
    missing = [n for n in names if f"`NEWSMON_{n.upper()}`" not in README]
    assert missing == []


def test_every_cli_command_is_in_the_readme() -> None:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name in sub.choices:  # type: ignore[union-attr]
        assert f"newsmon {name}" in README, name
