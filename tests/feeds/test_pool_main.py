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


def run_console_script(tmp_path: Path, source: str, runs: Path) -> subprocess.CompletedProcess[str]:
    """``source`` run as a console script is (by path, no .py: no module spec); it
    appends its pid to ``runs`` each time its top level runs."""
    script = tmp_path / "console_script"
    script.write_text(source, encoding="utf-8")
    root = Path(parse_module.__file__).resolve().parents[2]
    return subprocess.run(
        [sys.executable, str(script), str(runs)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=root,
        env={"PYTHONPATH": str(root), "RUNS_FILE": str(runs), "PATH": "/usr/bin:/bin"},
    )


def test_a_worker_does_not_import_the_main_script(tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    done = run_console_script(tmp_path, SCRIPT, runs)
    assert done.returncode == 0, done.stderr
    worker = int(done.stdout.split()[1])
    assert worker != int(done.stdout.split()[3])  # it really ran in another process
    # the script's top level ran once: in the main process, never in the worker
    assert runs.read_text().split() == [done.stdout.split()[3]]


EARLY = textwrap.dedent(
    """
    import asyncio, os, sys
    with open(sys.argv[1], "a") as f:
        f.write(f"{os.getpid()}\\n")
    from multiprocessing import forkserver
    from app.feeds.forkserver import start_fork_server
    from app.feeds.parse import ParsePool

    async def main():
        start_fork_server(["json"])
        server = forkserver._forkserver._forkserver_pid
        async with ParsePool(1, preload=["json"]) as pool:
            parent = await pool.run(os.getppid, budget_seconds=30, on_failure=str)
        print("server", server, "worker_parent", parent)

    if __name__ == "__main__":
        asyncio.run(main())
    """
)


def test_a_fork_server_started_early_is_the_one_the_pool_forks_from(tmp_path: Path) -> None:
    runs = tmp_path / "runs.txt"
    done = run_console_script(tmp_path, EARLY, runs)
    assert done.returncode == 0, done.stderr
    words = done.stdout.split()
    assert words[0] == "server" and words[2] == "worker_parent"
    assert words[1] == words[3]  # one fork server: the early one
    # and the early start hid the script too: its top level ran in the main process only
    assert len(runs.read_text().split()) == 1


GC_SCRIPT = textwrap.dedent(
    """
    import asyncio, gc
    from app.feeds.parse import ParsePool
    from app.polling import PARSE_PRELOAD

    async def main():
        async with ParsePool(1, preload=PARSE_PRELOAD) as pool:
            limits = await pool.run(gc.get_threshold, budget_seconds=120, on_failure=str)
            frozen = await pool.run(gc.get_freeze_count, budget_seconds=120, on_failure=str)
        print(*limits, frozen, *gc.get_threshold())

    asyncio.run(main())
    """
)


def _run_script(script: str) -> list[int]:
    """The integers ``script`` prints, run by a fresh interpreter on this checkout."""
    root = Path(parse_module.__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin"},
    )
    assert done.returncode == 0, done.stderr
    return [int(word) for word in done.stdout.split()]


def test_parse_workers_collect_garbage_in_batches_and_never_scan_the_preloaded_heap() -> None:
    """Workers forked from the preloaded fork server inherit its frozen heap and the
    poller's collection thresholds (``batch_gc``); the process that owns the pool
    keeps its own."""
    import gc

    from app.polling import GC_THRESHOLDS

    *worker, frozen, owner_0, owner_1, owner_2 = _run_script(GC_SCRIPT)
    assert tuple(worker) == GC_THRESHOLDS
    assert frozen > 10_000  # the tagger's tables and the modules: never scanned again
    assert (owner_0, owner_1, owner_2) == gc.get_threshold() != GC_THRESHOLDS


FREEZE_SCRIPT = textwrap.dedent(
    """
    import gc
    import app.polling.poller  # a poll process's modules
    from app.polling import batch_gc
    full = gc.get_stats()[2]["collections"]
    batch_gc()
    print(gc.get_stats()[2]["collections"] - full, gc.get_freeze_count())
    """
)


def test_the_loaded_heap_is_frozen_without_a_full_collection_first() -> None:
    """``batch_gc`` runs before a poll's first request and before the fork server forks
    its workers: a full collection there walked every loaded object (~84,000 in a poll
    process, ~48 ms of CPU) for a few dozen of import-time garbage."""
    full_collections, frozen = _run_script(FREEZE_SCRIPT)
    assert full_collections == 0
    assert frozen > 10_000  # and the loaded heap is frozen: never scanned again
