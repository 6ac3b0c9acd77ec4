"""axe-core in Chromium: inject ``node_modules/axe-core/axe.min.js`` (installed from npm by
``make test``) and list the serious and critical violations of the page."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")


def axe_source() -> str:
    if not AXE.exists():
        message = f"axe-core not found at {AXE}: run `npm ci` (make test does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return AXE.read_text(encoding="utf-8")


def violations(page: Any, source: str) -> list[str]:
    """Serious and critical axe violations of the loaded page, one line each."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=source)
    found: list[dict[str, Any]] = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ["violations"], iframes: false}))
             .violations.map(v => ({id: v.id, impact: v.impact,
                         nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 3)}))"""
    )
    return [
        f"{v['impact']} {v['id']}: {', '.join(v['nodes'])}"
        for v in found
        if v["impact"] in BLOCKING
    ]
