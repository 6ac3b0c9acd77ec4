"""Instructions, not seconds: the parse worker's job and the writer, counted by valgrind.

Run: ``python -m bench instructions`` (on request only: it needs valgrind and takes a few
minutes). ``BENCH_AGAINST=/path/to/tree`` counts another checkout too (a ``git worktree``
of another commit, with its bytecode compiled) and prints this tree's counts against it.
``BENCH_FEEDS`` (default 20) feeds of the peer harness's corpus (``/tmp/newsbench/corpus``,
``NEWSBENCH_CORPUS``) or, without it, of our own 200 × 50 corpus.

Why: this 2-core machine drifts by 25 % between runs and the whole-tree figures of issue 16
by as much (docs/decisions.md, "Ingest, stop 30"), so a change worth 2-5 % of a process's
CPU cannot be seen in seconds, and several stops left such changes "inconclusive in the
noise". valgrind counts the instructions a process executes; with the hash seed, the time
and OpenBLAS's threads fixed, the same code gives nearly the same count every run.
Instructions are not time (cache misses and system calls are not in them, and SQLite's
writes to the file are counted as the instructions that issue them), so they decide
between two versions of the same work; seconds stay the figures of record.

Each stage runs twice per tree, in a child process under ``valgrind --tool=callgrind``:
once with its set-up only (imports, the tagger loaded, the feeds read; for the writer the
feeds prepared and a database with the first feed stored) and once with the work as well;
the difference, per entry, is the stage's cost:

* **worker**: ``prepare_feed`` on each feed (parse, plan, tag, SQLite's stored values), the
  job a parse worker runs for every fetched feed;
* **writer**: the writer's replay (``bench_writer.replay``, feeds held in one transaction as
  the poller on SQLite holds them) of all the feeds after the first.

Nothing is asserted.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from bench.bench_poller import peer_corpus_dir
from bench.machine import state_line

STAGES = ("worker", "writer")
FEEDS = 20
HERE = Path(__file__).resolve().parents[1]  # this checkout
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")

# The child: run with ``python -c CHILD TREE STAGE FEEDS WORK CORPUS``, the tree first on
# the path (its ``app`` and ``bench``), so that another checkout is counted with its own code.
CHILD = r"""
import json, os, sys
tree, stage, n, work, corpus = sys.argv[1:6]
n, work = int(n), work == "1"
sys.path.insert(0, tree)
from datetime import UTC, datetime
from pathlib import Path
if corpus:
    os.environ["NEWSBENCH_CORPUS"] = corpus
from bench.bench_poller import peer_corpus
from bench.corpus import corpus as ours
now = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)
bodies = dict(list((peer_corpus() if corpus else ours(200, 50)).items())[:n])
import app.polling.preload
from app.polling.ingest import prepare_feed
from app.tagging import IMPLEMENTATION
entries = 0
if stage == "worker":
    if work:
        for path, body in bodies.items():
            entries += len(prepare_feed(body, "http://bench.example" + path, {}, now).drafts)
    else:
        entries = -1
else:
    import tempfile
    from bench.bench_writer import prepared_feeds, replay
    feeds = prepared_feeds(bodies, now)
    with tempfile.TemporaryDirectory(prefix="newsmon-bench-instructions-") as folder:
        replay(feeds if work else feeds[:1], now, Path(folder), 400)
    entries = sum(len(p.drafts) for _, p in feeds[1:])
print(json.dumps({"entries": entries, "implementation": IMPLEMENTATION}))
"""


@dataclass(frozen=True)
class Count:
    instructions: int
    entries: int
    implementation: str


def collected(valgrind_stderr: str) -> int:
    """The instruction count callgrind prints at exit ("Collected : N")."""
    found = _COLLECTED.findall(valgrind_stderr)
    if not found:
        raise RuntimeError(f"no instruction count in valgrind's output: {valgrind_stderr[-500:]}")
    return int(found[-1])


def per_entry(base: Count, work: Count) -> float:
    """The work's instructions per entry: the run with work less the set-up-only run."""
    if work.entries <= 0:
        raise ValueError("the work stored no entries")
    return (work.instructions - base.instructions) / work.entries


def child_env() -> dict[str, str]:
    """Fixed what would make the count vary: the hash seed, BLAS threads, bytecode writes."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_proxy", "_PROXY"))}
    env.update(PYTHONHASHSEED="0", OPENBLAS_NUM_THREADS="1", PYTHONDONTWRITEBYTECODE="1")
    return env


def count(
    tree: Path, stage: str, feeds: int, work: bool, corpus: str, valgrind: str = "valgrind"
) -> Count:
    command = [
        valgrind,
        "--tool=callgrind",
        "--callgrind-out-file=/dev/null",
        sys.executable,
        "-c",
        CHILD,
        str(tree),
        stage,
        str(feeds),
        "1" if work else "0",
        corpus,
    ]
    done = subprocess.run(
        command, capture_output=True, text=True, env=child_env(), timeout=3600, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{stage} child failed ({done.returncode}): {done.stderr[-2000:]}")
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    return Count(collected(done.stderr), answer["entries"], answer["implementation"])


def main() -> None:
    print(state_line())
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        print("valgrind not found (apt-get install valgrind): nothing counted")
        return
    feeds = int(os.environ.get("BENCH_FEEDS", str(FEEDS)))
    peer = peer_corpus_dir()
    corpus = str(peer) if peer else ""
    label = f"peer corpus, {feeds} feeds" if corpus else f"ours 200x50, {feeds} feeds"
    trees = [HERE]
    if os.environ.get("BENCH_AGAINST"):
        against = Path(os.environ["BENCH_AGAINST"]).resolve()
        if against == HERE:
            print(f"BENCH_AGAINST is this checkout ({HERE}): counted once")
        elif not (against / "app").is_dir():
            print(f"BENCH_AGAINST={against} holds no app package: nothing counted")
            return
        else:
            trees.append(against)
    runs = [(t, s, w) for t in trees for s in STAGES for w in (False, True)]
    with ThreadPoolExecutor(max_workers=2) as pool:
        counts = dict(
            zip(
                runs,
                pool.map(lambda r: count(r[0], r[1], feeds, r[2], corpus, valgrind), runs),
                strict=True,
            )
        )
    results: dict[tuple[Path, str], float] = {}
    for tree in trees:
        for stage in STAGES:
            base, work = counts[(tree, stage, False)], counts[(tree, stage, True)]
            results[(tree, stage)] = per_entry(base, work)
            print(
                f"[{label}] {stage}: {results[(tree, stage)]:,.0f} instructions per entry "
                f"({work.entries:,} entries; {tree}; tagger {work.implementation})"
            )
    if len(trees) == 2:
        for stage in STAGES:
            ratio = results[(trees[0], stage)] / results[(trees[1], stage)]
            print(f"[{label}] {stage}: this tree / {trees[1]} = {ratio:.3f}")
