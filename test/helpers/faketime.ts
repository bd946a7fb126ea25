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
 * Environment that starts the clock at `at` ('2026-11-01 12:00:00') or shifts it ('+3h', '-1d').
 * Monotonic clocks stay real, so timers and deadlines behave.
 */
export function faketimeEnv(at: string): Record<string, string> {
  sweepStale();
  return {
    LD_PRELOAD: libfaketime(),
    FAKETIME: /^[+-]/.test(at) ? at : `@${at}`,
    FAKETIME_DONT_FAKE_MONOTONIC: '1',
  };
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
