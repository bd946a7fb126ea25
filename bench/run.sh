#!/usr/bin/env bash
# syncer benchmarks (`npm run bench`): start-up, `ls` over a 100k-advertisement registry,
# sync/retrieve of a 10,000-file dataset against plain git + etcdctl, watch event latency, reindex
# of 1,000 advertisements from 10 remotes, and mirroring 500 dataset versions.
# stdout: one markdown table (also written to bench/results/latest.md); progress: stderr.
# Knobs: see bench/main.ts (BENCH_FILES, BENCH_ROUNDS, BENCH_HUBS, BENCH_ONLY=startup,registry,...).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for tool in node git etcd etcdctl bash sed; do
  if [[ $tool == etcd && -n ${SYNCER_ETCD_BIN:-} ]]; then continue; fi
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  echo "bench: missing on PATH: ${missing[*]}" >&2
  exit 2
fi

# Measure what ships: the built dist/. A build that fails (someone mid-edit) falls back to the
# existing dist/ with a warning rather than measuring nothing.
echo "bench: building dist/" >&2
if ! npm run --silent build >&2; then
  if [[ -f dist/main.js ]]; then
    echo "bench: warning: build failed; measuring the existing dist/" >&2
  else
    echo "bench: build failed and there is no dist/" >&2
    exit 1
  fi
fi

# Where etcd's data dir, the repositories, remotes and checkouts live. Default: tmpfs (/dev/shm)
# when it has room, because a shared VM disk makes 10,000-file writes vary 2-8 s from one run to
# the next, which drowns the overhead being measured. BENCH_TMPDIR=/tmp measures on disk.
if [[ -n ${BENCH_TMPDIR:-} ]]; then
  base=$BENCH_TMPDIR
elif [[ -d /dev/shm && -w /dev/shm ]] && (($(df -Pk /dev/shm | awk 'NR==2 {print $4}') > 2 * 1024 * 1024)); then
  base=/dev/shm
else
  base=${TMPDIR:-/tmp}
fi
work=$(mktemp -d "$base/syncer-bench-XXXXXX")
# The PostgreSQL of the source bench runs as user postgres: it must be able to enter this directory.
chmod 755 "$work"
trap 'rm -rf "$work"' EXIT
export TMPDIR=$work
BENCH_STORAGE="$(df -PT "$work" | awk 'NR==2 {print $2}') at $base"
export BENCH_STORAGE

# Every measured process (syncer or plain git) runs with a fresh per-operator HOME, so the user's
# git config (hooks, signing, aliases) stays out of the measurements.
unset CI || true

node_modules/.bin/tsx bench/main.ts
# Data sources (1,000,000 CSV rows, 100,000 PostgreSQL rows): a table of its own.
if [[ -z ${BENCH_ONLY:-} || ,$BENCH_ONLY, == *,source,* ]]; then
  echo
  node_modules/.bin/tsx bench/source-bench.ts
fi
