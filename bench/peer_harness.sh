#!/usr/bin/env bash
# newsmon beside lemon24/reader on the peer's own harness (../shared/bench, its README),
# whole process trees, in one invocation: the figures docs/benchmarks.md and the README
# quote for issue 16.
#
#   bench/peer_harness.sh OUT.json REPEAT [more bench_reader.py options]
#
# Products, in the order given (after reader's own `poll` command, which every run has):
#   PRODUCTS="main"                   this checkout, through its virtualenv's `newsmon`
#   PRODUCTS="main old=/path/to/tree" and a tree of another commit (`git worktree add`),
#                                     run through this virtualenv's Python with
#                                     PYTHONPATH=tree, and tree/.accel as its accelerator
#                                     build when there is one (copy .venv/newsmon-accel)
#   a suffix @N (main@32, old=/path@32) sets NEWSMON_FETCH_PER_HOST=N for that product.
# Cold: `db upgrade && feeds import && poll --once --no-fulltext` on an empty database;
# warm: `poll --once --all --no-fulltext` on the same database. (`--no-fulltext`: the
# corpus's article pages live on hosts that do not resolve, and a slow resolver turns the
# page pass into seconds of waiting that are not ingest.)
#
# Set-up, once per machine (the harness's README): a virtualenv with reader
#   python3 -m venv /tmp/newsbench/venv && /tmp/newsbench/venv/bin/pip install reader sgmllib3k
#   (cd ../shared/bench && /tmp/newsbench/venv/bin/python gen_corpus.py)
# and `make install` here. For a tree of another commit, compile its bytecode first
# (`python -m compileall -q app`): otherwise every process compiles its sources.
# The latency scenario: add --corpus /tmp/newsbench/corpus-1000x20 --latency-ms 100
# --workers 32 (after gen_corpus.py --out /tmp/newsbench/corpus-1000x20 --feeds 1000
# --entries 20 --port 8766). Nothing else should run meanwhile: the tree is CPU-bound.
set -euo pipefail

if [[ $# -lt 2 ]]; then
    sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
OUT=$1
REPEAT=$2
shift 2
HERE=$(cd "$(dirname "$0")/.." && pwd)
HARNESS=${HARNESS:-$HERE/../shared/bench}
READER_PYTHON=${READER_PYTHON:-/tmp/newsbench/venv/bin/python}
PYTHON=$HERE/.venv/bin/python
for need in "$HARNESS/bench_reader.py" "$READER_PYTHON" "$PYTHON"; do
    [[ -e $need ]] || { echo "peer_harness: missing $need (see the set-up above)" >&2; exit 2; }
done

ENVS='export NEWSMON_DATABASE_URL={db_url} NEWSMON_DATA_DIR={workdir}/data'
ENVS+=' NEWSMON_ALLOW_PRIVATE_NETWORKS=true NEWSMON_DEFAULT_FEEDS=false NEWSMON_POLL=false'
ARGS=(--label newsmon-vs-reader --out "$OUT" --repeat "$REPEAT" --skip-search --skip-floors
    --product-name reader-poll
    --product-cmd '{python} {bench_dir}/bench_reader.py poll --db {db} --opml {opml} --workers {workers}')
for product in ${PRODUCTS:-main}; do
    spec=${product%@*}
    per_host=""
    [[ $product == *@* ]] && per_host=" NEWSMON_FETCH_PER_HOST=${product##*@}"
    if [[ $spec == main ]]; then
        name=main
        bin="$HERE/.venv/bin/newsmon"
        prefix="$ENVS$per_host"
    else
        name=${spec%%=*}
        tree=$(cd "${spec#*=}" && pwd)
        accel=""
        [[ -d $tree/.accel ]] && accel=" NEWSMON_ACCEL_DIR=$tree/.accel"
        bin="$PYTHON -m app.cli"
        prefix="$ENVS$per_host PYTHONPATH=$tree$accel; cd $tree"
    fi
    [[ -n $per_host ]] && name+="@${product##*@}"
    ARGS+=(--product-name "$name"
        --product-cmd "$prefix; $bin db upgrade && $bin feeds import {opml} && $bin poll --once --no-fulltext"
        --product-warm-cmd "$prefix; $bin poll --once --all --no-fulltext"
        --product-count-cmd 'sqlite3 {db} "select count(*) from article; select count(*) from article_source"')
done
# The machine's state before and after (bench/machine.py): ratios from runs in different
# states are not comparable.
(cd "$HERE" && "$PYTHON" -m bench.machine)
cd "$HARNESS"
status=0
"$READER_PYTHON" bench_reader.py "${ARGS[@]}" "$@" || status=$?
(cd "$HERE" && "$PYTHON" -m bench.machine)
exit $status
