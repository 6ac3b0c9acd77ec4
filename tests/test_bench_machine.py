"""The machine-state line the benchmarks print beside their figures (bench/machine.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import bench.machine as machine

ROOT = Path(__file__).resolve().parent.parent


def test_the_line_names_uptime_kdamond_pressure_and_memory() -> None:
    line = machine.state_line()
    assert line.startswith("machine: up ")
    for part in ("load ", "kdamond ", "cpu ", "io ", "memory ", "available memory "):
        assert part in line


def test_a_kernel_without_the_files_reads_as_not_available(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(machine, "_read", lambda path: None)
    line = machine.state_line()
    assert "up n/a" in line
    assert "io n/a" in line
    assert "available memory n/a" in line


def test_pressure_reads_the_share_of_the_last_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    text = (
        "some avg10=1.00 avg60=42.50 avg300=3.00 total=1\nfull avg10=0 avg60=9 avg300=0 total=1\n"
    )
    monkeypatch.setattr(machine, "_read", lambda path: text)
    assert machine._pressure("io") == "42.5 %"


def test_it_runs_as_a_module() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.machine"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0
    assert done.stdout.startswith("machine: ")
