/**
 * What a watcher does with each event: retrieve the dataset (update in place), run the --exec
 * command without a shell (its output goes to stderr: stdout carries the NDJSON events), retry a
 * failing command with backoff, and record the outcome in the event. Failures never stop it.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { interrupted, SyncerError } from '../../errors.js';
import type { Advertisement } from '../../core/advertisement.js';
import type { Runtime } from '../../runtime.js';
import { materialize } from '../retrieve/checkout.js';
import { backoffMs, execEnv } from './events.js';

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
  retrieved?: { target: string; dataPath: string; updated: boolean };
  exec?: { code: number | null; signal?: string; attempts: number };
  error?: string;
}

export interface ActionOptions {
  retrieve?: boolean;
  exec?: string[];
  execAttempts: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Run a command for the event; its stdout and stderr are copied to our stderr. */
async function execOnce(rt: Runtime, command: string[], event: WatchEvent): Promise<{ code: number | null; signal?: string }> {
  const { execa } = await import('execa');
  const child = execa(command[0]!, command.slice(1), {
    env: { ...rt.env, ...execEnv({ ...event, dataPath: event.retrieved?.dataPath }) },
    extendEnv: false,
    reject: false,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
  });
  child.stdout?.pipe(rt.deps.stderr, { end: false });
  child.stderr?.pipe(rt.deps.stderr, { end: false });
  const res = await child;
  if ((res as { code?: string }).code === 'ENOENT') return { code: 127 };
  return { code: res.exitCode ?? null, signal: res.signal ?? undefined };
}

export async function act(rt: Runtime, ad: Advertisement | undefined, event: WatchEvent, options: ActionOptions): Promise<WatchEvent> {
  if (options.retrieve && ad && event.type === 'put') {
    const importDir = rt.config.importDir!;
    const target = join(importDir, ad.hub, ad.date, ad.operator);
    try {
      const { updated } = await materialize(rt, ad, target, false);
      event.retrieved = { target, dataPath: join(target, ad.path), updated };
    } catch (e) {
      if (e instanceof SyncerError && e.kind === 'INTERRUPTED') throw e;
      event.error = `retrieve failed: ${(e as Error).message}`;
    }
  }
  if (options.exec && !(options.retrieve && event.type === 'put' && !event.retrieved)) {
    let result: { code: number | null; signal?: string } = { code: null };
    let attempt = 0;
    while (attempt < options.execAttempts) {
      attempt += 1;
      result = await execOnce(rt, options.exec, event);
      if (result.code === 0) break;
      // Stopping (SIGINT/SIGTERM, which a terminal also sends to the command): no retries, and the
      // event is not recorded as done, so a restart runs it again.
      if (rt.deps.signal.aborted) throw interrupted();
      if (attempt < options.execAttempts) {
        rt.out.warn(`${options.exec[0]} failed for ${event.id} (exit ${result.code ?? result.signal}); retrying in ${backoffMs(attempt)} ms`);
        await sleep(backoffMs(attempt));
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
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, record ? JSON.stringify(record) + '\n' : '');
}
