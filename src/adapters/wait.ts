/**
 * Waiting that a stop (SIGINT/SIGTERM, through the runtime's AbortSignal) cuts short: retries with
 * backoff must not hold a Ctrl-C for seconds. Node's promise timers take the signal themselves.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { interrupted } from '../errors.js';

/** Wait `ms`; a stop ends the wait at once with the `interrupted` error (exit 130). */
export async function waitOrInterrupt(ms: number, signal: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, { signal });
  } catch (e) {
    if (signal.aborted) throw interrupted();
    throw e;
  }
}

/** Wait `ms`, or less if the signal stops us (the caller then sees `signal.aborted`). */
export function waitUnlessStopped(ms: number, signal?: AbortSignal): Promise<void> {
  return delay(ms, undefined, { signal }).catch(() => undefined);
}
