#!/usr/bin/env bash
# Runs the test suite again with the whole process tree's clock moved (libfaketime), so that no
# test depends on the day it runs: dates in tests must come from the (faked) clock, never be
# written in. The default dates cross a year boundary during the run (it starts three minutes
# before midnight UTC on 31 December) and land on a leap day.
#
#   npm run test:dates                              # every default date, whole suite
#   SYNCER_TEST_DATES='2027-06-30 23:58:00' npm run test:dates -- test/e2e/in-progress.test.ts
#
# The monotonic clock stays real (timers and deadlines behave); etcd (Go) reads the real clock,
# which only matters for leases (monotonic) and TLS (certificates are made valid for ten years by
# openssl, which is not faked).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh test
npx tsc -p tsconfig.json

lib=""
for f in /usr/lib/faketime/libfaketime.so.1 /usr/lib/*-linux-*/faketime/libfaketime.so.1 /usr/local/lib/faketime/libfaketime.so.1; do
  [ -e "$f" ] && { lib="$f"; break; }
done
[ -n "$lib" ] || { echo "libfaketime.so.1 not found (apt-get install -y faketime)" >&2; exit 1; }

IFS='|' read -r -a dates <<<"${SYNCER_TEST_DATES:-2026-12-31 23:57:00|2028-02-29 12:00:00}"
status=0
for at in "${dates[@]}"; do
  echo "==> the suite with the clock at $at UTC"
  # Each run is its own faked tree: remove the shared-memory pair libfaketime leaves behind.
  if TZ=UTC LD_PRELOAD="$lib" FAKETIME="@$at" FAKETIME_DONT_FAKE_MONOTONIC=1 FAKETIME_SKIP_CMDS=openssl \
    npx vitest run "$@" </dev/null; then
    echo "==> clock at $at: passed"
  else
    status=$?
    echo "==> clock at $at: FAILED (exit $status)"
  fi
done
exit "$status"
