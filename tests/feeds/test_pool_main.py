"""Parse workers do not re-run the program's ``__main__`` (a console script such as
``newsmon``): that imported the whole CLI, SQLAlchemy and the store into every worker."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from app.feeds import parse as parse_module

SCRIPT = textwrap.dedent(
    """
    import asyncio, os, sys
    with open(sys.argv[1] if len(sys.argv) > 1 else os.environ["RUNS_FILE"], "a") as f:
        f.write(f"{os.getpid()}\\n")
    from app.feeds.parse import ParsePool

    async def main():
        async with ParsePool(1) as pool:
            pid = await pool.run(os.getpid, budget_seconds=30, on_failure=str)
        print("worker", pid, "main", os.getpid())

    if __name__ == "__main__":
        asyncio.run(main())
    """
)


def test_a_worker_does_not_import_the_main_script(tmp_path: Path) -> None:
    script = tmp_path / "console_script"  # no .py, run by path: no module spec
    script.write_text(SCRIPT, encoding="utf-8")
    runs = tmp_path / "runs.txt"
    root = Path(parse_module.__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, str(script), str(runs)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
        env={"PYTHONPATH": str(root), "RUNS_FILE": str(runs), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    worker = int(done.stdout.split()[1])
    assert worker != int(done.stdout.split()[3])  # it really ran in another process
    # the script's top level ran once: in the main process, never in the worker
    assert runs.read_text().split() == [done.stdout.split()[3]]
