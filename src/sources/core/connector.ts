/**
 * What every connector (a CSV file, an HTTP API, a PostgreSQL table) offers `pull` and `push`, and
 * how their failures become exit codes: a source or destination that is down, times out, refuses
 * or answers with an error is exit 4 (like a git remote that fails); a definition that cannot work
 * (missing environment variable, unknown table, a CSV URL as a destination) is exit 2.
 */
import { SyncerError, interrupted, usageError } from '../../errors.js';
import type { Cursor, RunReport } from './records.js';

export interface FetchContext {
  /** The source's name (for messages). */
  name: string;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  /** Relative CSV paths resolve against the repository root. */
  repoRoot: string;
  report: RunReport;
  /** Ask only for records at or after this (undefined: everything). */
  cursor?: Cursor;
  updatedField?: string;
  idField: string;
  debug: (message: string) => void;
}

export interface FetchedItem {
  record: unknown;
  /** Line in a CSV file (for warnings). */
  line?: number;
  /** 1-based position in the stream. */
  position: number;
}

export interface OutgoingRecord {
  /** The hub id (for the write-back). */
  hubId: string;
  /** The record's id at the destination, when it already has one. */
  destId?: string | number;
  fields: Record<string, unknown>;
}

export interface SendResult {
  /** Per record, in order: its id at the destination, or undefined when the destination rejected it. */
  ids: (string | number | undefined)[];
}

export interface Destination {
  send(batch: OutgoingRecord[]): Promise<SendResult>;
  close(): Promise<void>;
  batchSize: number;
}

export interface PushContext extends Omit<FetchContext, 'cursor' | 'updatedField'> {
  dryRun: boolean;
}

/** The source or destination failed: exit 4. */
export const remoteError = (message: string, hint?: string, cause?: unknown) => new SyncerError('REMOTE', message, { hint, cause });

export function throwIfAborted(signal: AbortSignal): void {
  if (signal.aborted) throw interrupted();
}

/** The value of the environment variable a definition names; exit 2 when it is unset. */
export function secretFromEnv(env: NodeJS.ProcessEnv, name: string | undefined, what: string): string | undefined {
  if (!name) return undefined;
  const v = env[name];
  if (v === undefined || v === '') throw usageError(`${what}: the environment variable ${name} is not set`, `export ${name}=... before running syncer`);
  return v;
}

/** A dot path (`data.items`, `links.next`) into a parsed JSON body. */
export function atPath(body: unknown, path: string): unknown {
  let v: unknown = body;
  for (const part of path.split('.')) {
    if (part === '') continue;
    if (v === null || typeof v !== 'object') return undefined;
    v = Array.isArray(v) && /^\d+$/.test(part) ? v[Number(part)] : (v as Record<string, unknown>)[part];
  }
  return v;
}
