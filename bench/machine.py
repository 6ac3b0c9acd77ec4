"""What the machine was doing around a benchmark: one line to print beside its figures.

Ratios against the peer moved by a third on this 2-core VM between sessions with the
same code (docs/decisions.md, "Ingest, stop 31"): after hours of uptime the kernel's
DAMON reclaim (``kdamond`` threads) ran and ``/proc/pressure`` showed tasks stalled on
I/O, and newsmon's two-core process tree slowed far more than reader's one thread. A
figure is only comparable with another measured in the same state, so the benchmarks
print it: uptime, load, whether kdamond runs and how much CPU it has used, the pressure
(share of the last 60 s some task waited for CPU, I/O, memory) and free memory.

``python -m bench.machine`` prints the line (``bench/peer_harness.sh`` does so before and
after its run); ``state_line()`` returns it. Missing files (another kernel, a container)
read as "n/a"; nothing here fails a benchmark.
"""

from __future__ import annotations

import os
from pathlib import Path


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def _pressure(kind: str) -> str:
    text = _read(f"/proc/pressure/{kind}")
    if not text:
        return "n/a"
    for line in text.splitlines():
        if line.startswith("some"):
            fields = dict(part.split("=", 1) for part in line.split()[1:])
            return f"{float(fields.get('avg60', 'nan')):.1f} %"
    return "n/a"


def _kdamond() -> str:
    """Running kdamond threads and their CPU so far (utime + stime), or "not running"."""
    ticks = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    found, cpu = 0, 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        comm = _read(f"/proc/{entry.name}/comm")
        if not comm or not comm.startswith("kdamond"):
            continue
        stat = _read(f"/proc/{entry.name}/stat")
        if stat:
            fields = stat.rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / ticks
        found += 1
    return f"{found} running, {cpu:.1f} s of CPU" if found else "not running"


def state_line() -> str:
    uptime = _read("/proc/uptime")
    hours = f"{float(uptime.split()[0]) / 3600:.1f} h" if uptime else "n/a"
    meminfo = _read("/proc/meminfo") or ""
    available = next(
        (int(line.split()[1]) // 1024 for line in meminfo.splitlines() if "MemAvailable" in line),
        None,
    )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"machine: up {hours}, load {load:.2f}, kdamond {_kdamond()}; pressure (some, "
        f"last 60 s) cpu {_pressure('cpu')}, io {_pressure('io')}, memory "
        f"{_pressure('memory')}; available memory "
        f"{'n/a' if available is None else f'{available:,} MiB'}"
    )


if __name__ == "__main__":
    print(state_line())
