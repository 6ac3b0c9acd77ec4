"""schemathesis, as an integrator runs it: the ``st`` command against a real
``newsmon serve`` on each engine, every check (``--checks all``), every phase
(examples, coverage, fuzzing, and the stateful phase along the schema's links: a
created flag is patched and deleted, a created feed enabled and removed), with a
write token and seeded articles so the operations reach real rows. Zero failures.

Deterministic (``--generation-deterministic``): the same cases on every run. Two
scoped expectations live in tests/support/schemathesis.toml, with the reason.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.served import ENGINES, serve
from tests.web.test_auth_kit import seed_article

ST = str(Path(sys.executable).with_name("st"))
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = 15  # per operation and phase; about a minute per engine


@pytest.mark.parametrize("kind", ENGINES)
def test_schemathesis_finds_nothing(kind: str, tmp_path: Path) -> None:
    with serve(kind, tmp_path) as served:
        token = served.write_token()
        for i in range(5):
            seed_article(served.db, f"Story {i}", themes=("security",), minutes_ago=i)
        env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.support.schemathesis_hooks"}
        env["PYTHONPATH"] = str(ROOT)
        done = subprocess.run(
            [
                ST,
                "--config-file",
                str(ROOT / "tests/support/schemathesis.toml"),
                "run",
                f"{served.base}/openapi.json",
                "--checks",
                "all",
                "--phases",
                "examples,coverage,fuzzing,stateful",
                "--header",
                f"Authorization: Bearer {token}",
                "--max-examples",
                str(EXAMPLES),
                "--generation-deterministic",
                "--continue-on-failure",
                "--no-shrink",
                "--workers",
                "1",
            ],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=900,
        )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-20_000:]
    assert "✅ Stateful" in output and " passed" in output, output[-5_000:]
