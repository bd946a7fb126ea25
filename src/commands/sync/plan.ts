/** The pure part of sync: what gets advertised and committed. No I/O. */
import { randomUUID } from 'node:crypto';
import { tagName } from '../../core/keys.js';
import type { Advertisement } from '../../core/advertisement.js';
import { isName } from '../../core/names.js';

export const OPERATOR_FILE = '.syncer/operator.json';
/** Forges reject files over 100 MB. */
export const LARGE_FILE_BYTES = 100 * 1024 * 1024;

export const defaultMessage = (hub: string, date: string) => `sync ${hub} ${date}`;

export function buildAdvertisement(input: {
  hub: string;
  date: string;
  operator: string;
  remote: string;
  branch: string;
  commit: string;
  path: string;
  files: number;
  bytes: number;
  message: string;
  now: Date;
  runId?: string;
}): Advertisement {
  return {
    schema: 1,
    hub: input.hub,
    date: input.date,
    operator: input.operator,
    remote: input.remote,
    branch: input.branch,
    commit: input.commit,
    tag: tagName(input.hub, input.date),
    path: input.path,
    files: input.files,
    bytes: input.bytes,
    message: input.message,
    syncedAt: input.now.toISOString(),
    runId: input.runId ?? randomUUID(),
  };
}

/** Hubs to offer in the interactive sync: top-level directories of the repo and hubs of the registry. */
export function hubChoices(repoDirs: string[], registryHubs: string[]): string[] {
  return [...new Set([...repoDirs.filter((d) => isName(d)), ...registryHubs])].sort();
}
