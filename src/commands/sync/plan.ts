/** The pure part of sync: what gets decided, advertised and committed. No I/O. */
import { createHash } from 'node:crypto';
import { tagName } from '../../core/keys.js';
import type { Advertisement, OperatorRecord } from '../../core/advertisement.js';
import type { Meta } from '../../core/meta.js';
import type { KeyPair } from '../../core/signing.js';
import type { DatasetListing } from '../../adapters/git-worktree.js';
import { isName } from '../../core/names.js';

/** Everything decided before git or etcd is written to. */
export interface SyncPlan {
  top: string;
  /** The repository's git dir (where sync keeps its lock and its record of the last count). */
  gitDir?: string;
  branch: string;
  hub: string;
  date: string;
  operator: string;
  path: string;
  message: string;
  remote: string;
  /** Changed, staged or untracked paths under the dataset, as listed before the registry was asked. */
  changed: string[];
  /** The dataset's files as listed (after the confirmation, when one was asked): which go to git-lfs; the operator file's status. */
  listing: DatasetListing;
  pair: KeyPair;
  operatorFile: { path: string; text: string; stale: boolean; record: OperatorRecord; registryWrite: boolean; registryRevision?: string };
  /** The summary of the dataset's datapackage.json, when it has one (commands/sync/metadata.ts). */
  meta?: Meta;
}

/** What a sync did. */
export interface SyncResult {
  hub: string;
  date: string;
  operator: string;
  commit: string;
  tag: string;
  remote: string;
  path: string;
  files: number;
  bytes: number;
  committed: boolean;
  advertised: 'created' | 'replaced' | 'unchanged';
}

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
  /** The id of the sync run (sync passes the one its in-progress marker names). */
  runId?: string;
  meta?: Meta;
}): Advertisement {
  const syncedAt = input.now.toISOString();
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
    syncedAt,
    // No run id given (a caller outside a run): one derived from the entry, the same each time.
    runId: input.runId ?? createHash('sha256').update(`${input.hub}/${input.date}/${input.operator}@${syncedAt}`).digest('hex').slice(0, 32),
    ...(input.meta ? { meta: input.meta } : {}),
  };
}

/** Hubs to offer in the interactive sync: top-level directories of the repo and hubs of the registry. */
export function hubChoices(repoDirs: string[], registryHubs: string[]): string[] {
  return [...new Set([...repoDirs.filter((d) => isName(d)), ...registryHubs])].sort();
}
