/**
 * What a watcher does with each event: retrieve the dataset (update in place), run the --exec
 * command without a shell (its output goes to stderr: stdout carries the NDJSON events), retry a
 * failing retrieve or command with backoff, and record the outcome in the event. Failures never
 * stop it.
 */
import { appendFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { hasKind, interrupted } from '../../errors.js';
import type { Advertisement } from '../../core/advertisement.js';
import type { Runtime } from '../../runtime.js';
import { materialize } from '../retrieve/checkout.js';
import { backoffMs, execEnv } from './events.js';
import { makeDirs } from '../../adapters/dirs.js';
import { waitOrInterrupt } from '../../adapters/wait.js';

export interface WatchEvent {
  id: string;
  type: 'put' | 'delete';
  hub: string;
  date: string;
  operator: string;
  revision: string;
  commit?: string;
  syncedAt?: string;
  replay?: boolean;
  retrieved?: { target: string; dataPath: string; updated: boolean; attempts: number };
  exec?: { code: number | null; signal?: string; attempts: number };
  error?: string;
}

export interface ActionOptions {
  retrieve?: boolean;
  exec?: string[];
  /** How many times a failing retrieve or command is tried (with backoff in between). */
  attempts: number;
}

/**
 * Failures worth trying again: a remote or etcd that did not answer. A refusal (local changes in
 * the target), a bad signature or a tag that disagrees with the registry will not change by waiting.
 */
const transient = (e: unknown) => hasKind(e, 'REMOTE', 'REGISTRY');

async function retrieve(rt: Runtime, ad: Advertisement, event: WatchEvent, attempts: number): Promise<void> {
  const target = join(rt.config.importDir!, ad.hub, ad.date, ad.operator);
  for (let attempt = 1; ; attempt++) {
    try {
      const { updated } = await materialize(rt, ad, target, { force: false });
      event.retrieved = { target, dataPath: join(target, ad.path), updated, attempts: attempt };
      return;
    } catch (e) {
      if (hasKind(e, 'INTERRUPTED')) throw e;
      if (rt.deps.signal.aborted) throw interrupted();
      const message = (e as Error).message;
      if (!transient(e) || attempt >= attempts) {
        event.error = `retrieve failed${attempt > 1 ? ` after ${attempt} attempts` : ''}: ${message}`;
        return;
      }
      rt.out.warn(`retrieve of ${event.id} failed (${message}); retrying in ${backoffMs(attempt)} ms`);
      await waitOrInterrupt(backoffMs(attempt), rt.deps.signal);
    }
  }
}

/** Run a command for the event; its stdout and stderr are copied to our stderr. */
async function execOnce(rt: Runtime, command: string[], event: WatchEvent): Promise<{ code: number | null; signal?: string }> {
  const { runCommand } = await import('../../adapters/command.js');
  // SYNCER_OPERATOR is the event's; a syncer run by the command keeps ours (config/resolve.ts).
  const env = {
    ...rt.env,
    ...(rt.config.operator ? { SYNCER_WATCHER_OPERATOR: rt.config.operator } : {}),
    ...execEnv({ ...event, dataPath: event.retrieved?.dataPath }),
  };
  return runCommand(command, { env, output: rt.deps.stderr });
}

export async function act(rt: Runtime, ad: Advertisement | undefined, event: WatchEvent, options: ActionOptions): Promise<WatchEvent> {
  if (options.retrieve && ad && event.type === 'put') await retrieve(rt, ad, event, options.attempts);
  if (options.exec && !(options.retrieve && event.type === 'put' && !event.retrieved)) {
    let result: { code: number | null; signal?: string } = { code: null };
    let attempt = 0;
    while (attempt < options.attempts) {
      attempt += 1;
      result = await execOnce(rt, options.exec, event);
      if (result.code === 0) break;
      // Stopping (SIGINT/SIGTERM, which a terminal also sends to the command): no retries, and the
      // event is not recorded as done, so a restart runs it again.
      if (rt.deps.signal.aborted) throw interrupted();
      if (attempt < options.attempts) {
        const why = result.code === 127 ? 'exit 127: command not found?' : `exit ${result.code ?? result.signal}`;
        rt.out.warn(`${options.exec[0]} failed for ${event.id} (${why}); retrying in ${backoffMs(attempt)} ms`);
        await waitOrInterrupt(backoffMs(attempt), rt.deps.signal);
      }
    }
    event.exec = { code: result.code, ...(result.signal ? { signal: result.signal } : {}), attempts: attempt };
    if (result.code !== 0) event.error = `${options.exec[0]} failed after ${attempt} attempt(s)`;
  }
  return event;
}

/** --events-log: every raw change, appended as one JSON line, before it is acted on (no record: just create the file). */
export function appendEventLog(file: string | undefined, record: Record<string, unknown> | undefined): void {
  if (!file) return;
  makeDirs(dirname(file));
  appendFileSync(file, record ? `${JSON.stringify(record)}\n` : '');
}
