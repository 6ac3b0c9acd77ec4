"""Run every benchmark (or the ones named: ``python -m bench tagger poller``).

Benchmarks print figures next to their targets; they never assert.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import bench

# Only when named: long runs that need a PostgreSQL server (`python -m bench soak`), and
# instruction counts under valgrind (`python -m bench instructions`, minutes).
ON_REQUEST_ONLY = {"bench_soak", "bench_instructions"}


def main(argv: list[str]) -> int:
    names = sorted(
        m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")
    )
    wanted = [
        n
        for n in names
        if n.removeprefix("bench_") in argv or (not argv and n not in ON_REQUEST_ONLY)
    ]
    if not wanted:
        print("no benchmarks yet" if not names else f"no benchmark named {argv}; have {names}")
        return 0
    for name in wanted:
        print(f"\n=== {name.removeprefix('bench_')} ===", flush=True)
        started = time.perf_counter()
        importlib.import_module(f"bench.{name}").main()
        print(f"({name} took {time.perf_counter() - started:.1f} s)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
