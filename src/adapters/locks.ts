/**
 * Local locks so that two syncs of one repository, or two retrieves into one target, never
 * interleave: the second waits (saying so on stderr) until the first is done. A lock left by a
 * killed process goes stale within seconds (proper-lockfile refreshes a live lock's mtime).
 *
 * So whoever holds the lock knows no live run of the same kind does: what such a run leaves
 * behind (a retrieve's clone beside the target, a half-done update) is a dead run's, and `fn` may
 * clean it up or complete it (retrieve/checkout.ts does).
 */
import { SyncerError, interrupted } from '../errors.js';

const STALE_MS = 15_000;

export async function withLock<T>(
  lockPath: string,
  what: string,
  io: { info: (m: string) => void; warn: (m: string) => void; signal: AbortSignal },
  fn: () => Promise<T>,
): Promise<T> {
  const { default: lockfile } = await import('proper-lockfile');
  let release: (() => Promise<void>) | undefined;
  let told = false;
  while (!release) {
    try {
      release = await lockfile.lock(lockPath, {
        realpath: false,
        lockfilePath: lockPath,
        stale: STALE_MS,
        update: STALE_MS / 3,
        onCompromised: (e) => io.warn(`lost the lock ${lockPath}: ${e.message}`),
      });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ELOCKED') {
        throw new SyncerError('USAGE', `cannot take the lock ${lockPath}: ${(e as Error).message}`, { cause: e });
      }
      if (!told) io.info(`waiting for another syncer ${what} to finish (lock ${lockPath})…`);
      told = true;
      if (io.signal.aborted) throw interrupted();
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}
