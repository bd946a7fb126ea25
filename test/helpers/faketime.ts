/**
 * Moving the clock of a child process tree with libfaketime.
 *
 * libfaketime 0.9.10 makes a POSIX semaphore and shared memory named after the pid of the first
 * process it is loaded into (`/dev/shm/sem.faketime_sem_<pid>`, `/dev/shm/faketime_shm_<pid>`),
 * shared with the processes that one starts, and does not remove them when that process exits
 * (node exits without running the library's destructor; SIGKILL never does). Once the pid is reused,
 * the next faked process dies with "faketime: sem_open: File exists". So every spawn under a fake
 * clock releases its pair when the child ends (`releaseFaketime`), and pairs left by processes
 * that are gone (an earlier run that crashed) are swept before a spawn (`faketimeEnv`).
 */
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

let found: string | undefined;

/** Path of libfaketime.so.1 (Debian's `faketime` package, any architecture). */
export function libfaketime(): string {
  if (found) return found;
  const candidates = ['/usr/lib/faketime/libfaketime.so.1', '/usr/local/lib/faketime/libfaketime.so.1'];
  for (const dir of safeList('/usr/lib')) candidates.push(join('/usr/lib', dir, 'faketime', 'libfaketime.so.1'));
  found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error('libfaketime.so.1 not found: install it (apt-get install -y faketime)');
  return found;
}

/**
 * Environment that starts the clock at `at` ('2026-11-01 12:00:00', UTC) or shifts it ('+3h',
 * '-1d'). A shift is taken from this process's clock, which scripts/test-dates.sh may itself have
 * moved: the child then starts at that moved time plus the shift, not at the real one. The child
 * gets its own shared-memory pair (FAKETIME_SHARED is dropped), so its clock starts at `at` and
 * not at the start of an outer faked tree. Monotonic clocks stay real, so timers and deadlines
 * behave.
 */
export function faketimeEnv(at: string): Record<string, string | undefined> {
  sweepStale();
  return {
    LD_PRELOAD: libfaketime(),
    FAKETIME: `@${/^[+-]/.test(at) ? shifted(at) : at}`,
    FAKETIME_DONT_FAKE_MONOTONIC: '1',
    FAKETIME_SHARED: undefined,
    TZ: 'UTC',
  };
}

/** '+90m', '-1d', '+3h', '+30s' from this process's clock, as 'YYYY-MM-DD HH:MM:SS' UTC. */
function shifted(shift: string): string {
  const m = /^([+-])(\d+(?:\.\d+)?)([smhdy]?)$/.exec(shift);
  if (!m) throw new Error(`faketime shift not understood: ${shift}`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86_400, y: 365 * 86_400 }[m[3]!]!;
  const ms = Number(m[2]) * unit * 1000 * (m[1] === '-' ? -1 : 1);
  return new Date(Date.now() + ms).toISOString().slice(0, 19).replace('T', ' ');
}

/**
 * The variables of an outer faked clock (scripts/test-dates.sh) that children must inherit to see
 * the same moved time. That clock is an offset from the real one (FAKETIME="+<seconds>"), the same
 * in every process whenever it starts; FAKETIME_SHARED makes children use the outer tree's
 * semaphore and shared memory instead of leaving a pair of their own behind.
 */
export function inheritedFaketime(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of ['LD_PRELOAD', 'FAKETIME', 'FAKETIME_SHARED', 'FAKETIME_DONT_FAKE_MONOTONIC', 'FAKETIME_SKIP_CMDS', 'TZ']) {
    const v = process.env[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/**
 * A series of commands that must share one date (a failed sync and its rerun, same-day
 * replacements, several operators on one date): `date` is today by this process's clock (which
 * scripts/test-dates.sh may move), and each `at()` is a later minute of that day (00:01, 00:02, ...)
 * for world.ts `run`. Each command is then later than the one before and the series stays on
 * `date` even when the run crosses midnight.
 */
export function oneDay(): { date: string; at: () => string } {
  const date = new Date().toISOString().slice(0, 10);
  let minute = 0;
  return {
    date,
    at() {
      if (minute >= 1439) throw new Error('oneDay: more than 1439 commands on one day');
      const t = new Date(Date.parse(`${date}T00:00:00Z`) + ++minute * 60_000);
      return t.toISOString().slice(0, 19).replace('T', ' ');
    },
  };
}

/**
 * Environment for `openssl` making test certificates (use with `-days 7300`): its clock is ten
 * years behind the real one, so the certificates are valid from ten years before today to ten
 * years after, whatever date scripts/test-dates.sh (absolute dates, maybe past ones) or a test's
 * `at` gives the processes that check them.
 */
export function certificateClockEnv(): NodeJS.ProcessEnv {
  sweepStale();
  const env: NodeJS.ProcessEnv = { ...process.env, LD_PRELOAD: libfaketime(), FAKETIME: '-3650d', FAKETIME_DONT_FAKE_MONOTONIC: '1' };
  delete env.FAKETIME_SKIP_CMDS;
  delete env.FAKETIME_SHARED;
  return env;
}

/** Remove the semaphore and shared memory of a faked process that has ended. */
export function releaseFaketime(pid: number | undefined): void {
  if (!pid) return;
  rmSync(`/dev/shm/sem.faketime_sem_${pid}`, { force: true });
  rmSync(`/dev/shm/faketime_shm_${pid}`, { force: true });
}

/** Release the pairs of processes that no longer exist. */
function sweepStale(): void {
  for (const name of safeReaddir('/dev/shm')) {
    const m = /^(?:sem\.faketime_sem|faketime_shm)_(\d+)$/.exec(name);
    if (m && !alive(Number(m[1]))) releaseFaketime(Number(m[1]));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function safeList(dir: string): string[] {
  return safeReaddir(dir).filter((d) => d.includes('-linux-'));
}
