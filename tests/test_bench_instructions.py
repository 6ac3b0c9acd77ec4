"""``python -m bench instructions`` (bench/bench_instructions.py): the child that valgrind
counts must do the stage's real work on this tree, and the arithmetic must turn two counts
into the work's cost per entry."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.polling.ingest import prepare_feed
from bench import bench_instructions
from bench.bench_instructions import CHILD, HERE, Count, child_env, collected, per_entry
from bench.corpus import corpus

NOW = datetime(2026, 3, 3, 12, 0, tzinfo=UTC)  # the child's fixed time
FEEDS = list(corpus(200, 50).items())[:2]

VALGRIND_TAIL = """==123== Events    : Ir
==123== Collected : 4242424242
==123==
==123== I   refs:      4,242,424,242
"""


def test_the_count_is_read_from_callgrinds_summary() -> None:
    assert collected(VALGRIND_TAIL) == 4_242_424_242


def test_a_missing_count_is_an_error_that_shows_valgrinds_output() -> None:
    with pytest.raises(RuntimeError, match=r"no instruction count.*valgrind: command failed"):
        collected("valgrind: command failed")


def test_the_cost_per_entry_is_the_work_less_the_set_up() -> None:
    base = Count(instructions=1_000_000, entries=-1, implementation="pure")
    work = Count(instructions=4_000_000, entries=1_000, implementation="pure")
    assert per_entry(base, work) == 3_000
    with pytest.raises(ValueError, match="no entries"):
        per_entry(base, Count(instructions=4_000_000, entries=0, implementation="pure"))


def test_the_children_run_with_a_fixed_hash_seed_and_one_blas_thread() -> None:
    env = child_env()
    assert env["PYTHONHASHSEED"] == "0"
    assert env["OPENBLAS_NUM_THREADS"] == "1"
    assert not any(k.lower().endswith("_proxy") for k in env)


@pytest.mark.parametrize("stage", ["worker", "writer"])
def test_the_child_does_the_stages_work_on_this_tree(stage: str) -> None:
    """What valgrind counts, run plainly: two feeds of our own corpus (no peer corpus given),
    prepared by the worker's job, or replayed by the writer after the first."""
    runs = {}
    for work in ("0", "1"):
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(HERE), stage, "2", work, ""],
            capture_output=True,
            text=True,
            env=child_env(),
            timeout=300,
            check=True,
        )
        runs[work] = json.loads(done.stdout.strip().splitlines()[-1])
    assert runs["1"]["implementation"].startswith(("compiled", "pure Python"))
    drafts = [len(prepare_feed(b, "http://bench.example" + p, {}, NOW).drafts) for p, b in FEEDS]
    assert all(drafts)
    if stage == "worker":
        assert runs["0"]["entries"] == -1  # the set-up run tags nothing
        assert runs["1"]["entries"] == sum(drafts)
    else:
        # the entries replayed after the first feed, the same in both runs
        assert runs["0"]["entries"] == runs["1"]["entries"] == drafts[1]


def test_without_valgrind_nothing_is_counted_and_it_says_why(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(bench_instructions.shutil, "which", lambda _: None)
    bench_instructions.main()
    assert "valgrind not found" in capsys.readouterr().out


def test_another_tree_must_hold_the_app_to_be_counted(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.setattr(bench_instructions.shutil, "which", lambda _: "/usr/bin/valgrind")
    monkeypatch.setenv("BENCH_AGAINST", str(tmp_path))
    bench_instructions.main()  # returns before any child runs
    assert "holds no app package: nothing counted" in capsys.readouterr().out
