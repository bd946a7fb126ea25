#!/usr/bin/env bash
# Runs tests again with the whole process tree's clock moved (libfaketime), so that no test
# depends on the day it runs: dates in tests must come from the (faked) clock, never be written
# in, and be read after the command they check (the clock keeps running).
#
#   npm run test:dates                  # the default plan below (~16 min on 2 busy cores)
#   SYNCER_TEST_DATES='2027-06-30 23:58:00' npm run test:dates -- test/e2e/in-progress.test.ts
#
# Default plan (no arguments, no SYNCER_TEST_DATES): the whole suite starting three minutes
# before midnight UTC on 31 December (the run crosses a year boundary), then the date-handling
# files ($leap_files) on a leap day. With arguments or SYNCER_TEST_DATES: those files (default:
# all) at each of those dates.
#
# The clock is moved by a fixed offset from the real one (FAKETIME="+<seconds>"), not started at
# a date (FAKETIME="@..."): with libfaketime 0.9.10 every new process would start again at that
# date, so a CLI spawned a minute into the run would see an older time than the test that ran it.
# The monotonic clock stays real (timers and deadlines behave). openssl is not faked by this clock
# (FAKETIME_SKIP_CMDS): the tests make their certificates with a clock ten years back, valid for
# twenty (test/helpers/faketime.ts). etcd (Go, no libc) always reads the real clock; its leases
# are monotonic and its certificates valid at both clocks, so that does not matter.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh test
npx tsc -p tsconfig.json

lib=""
for f in /usr/lib/faketime/libfaketime.so.1 /usr/lib/*-linux-*/faketime/libfaketime.so.1 /usr/local/lib/faketime/libfaketime.so.1; do
  [ -e "$f" ] && { lib="$f"; break; }
done
[ -n "$lib" ] || { echo "libfaketime.so.1 not found (apt-get install -y faketime)" >&2; exit 1; }

# The files that handle dates (naming, validation, newest first, latest, tomorrow and "from the
# future", in-progress, watch, reindex, mirror floors): run again on a leap day.
leap_files=(test/unit test/e2e/sync-retrieve.test.ts test/e2e/in-progress.test.ts test/e2e/watch.test.ts
  test/e2e/watch-rotation.test.ts test/e2e/reindex.test.ts test/e2e/trust.test.ts test/e2e/trust-state.test.ts
  test/e2e/mirror.test.ts)
if [ $# -gt 0 ] || [ -n "${SYNCER_TEST_DATES:-}" ]; then
  IFS='|' read -r -a dates <<<"${SYNCER_TEST_DATES:-2026-12-31 23:57:00|2028-02-29 12:00:00}"
  plan=()
  for at in "${dates[@]}"; do plan+=("$at|$*"); done
else
  plan=("2026-12-31 23:57:00|" "2028-02-29 12:00:00|${leap_files[*]}")
fi

# libfaketime leaves a semaphore and shared memory named after the first faked pid; a reused pid
# then fails with "sem_open: File exists". Remove the pairs whose process is gone.
sweep_faketime_pairs() {
  local f pid
  for f in /dev/shm/sem.faketime_sem_* /dev/shm/faketime_shm_*; do
    [ -e "$f" ] || continue
    pid="${f##*_}"
    kill -0 "$pid" 2>/dev/null || rm -f "$f"
  done
}

status=0
for step in "${plan[@]}"; do
  at="${step%%|*}"
  read -r -a files <<<"${step#*|}"
  echo "==> ${files[*]:-the whole suite} with the clock at $at UTC"
  sweep_faketime_pairs
  offset=$(( $(date -u -d "$at" +%s) - $(date +%s) ))
  [ "$offset" -ge 0 ] && offset="+$offset"
  started=$SECONDS
  if TZ=UTC LD_PRELOAD="$lib" FAKETIME="$offset" FAKETIME_DONT_FAKE_MONOTONIC=1 FAKETIME_SKIP_CMDS=openssl \
    npx vitest run "${files[@]}" </dev/null; then
    echo "==> clock at $at: passed ($((SECONDS - started)) s)"
  else
    status=$?
    echo "==> clock at $at: FAILED (exit $status, $((SECONDS - started)) s)"
  fi
done
exit "$status"
