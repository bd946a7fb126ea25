/**
 * The pure part of watch: which keys a watcher follows, the events it prints, the difference
 * between what it last knew and what the registry holds now (after a compaction or a restart),
 * and the environment an --exec command gets. No I/O.
 */
import { matchesFilter, parseDatasetKey, type DatasetId, type Filter, type Keys } from '../../core/keys.js';

export type { Filter };
export const matches = matchesFilter;

/** What the watcher last knew of each key: its mod revision and advertised commit. */
/** Per advertisement key: the revision acted on, the commit delivered and when that entry was synced (`at`). */
export type Known = Record<string, { rev: string; commit: string; at?: string }>;

export interface Position {
  revision: string;
  known: Known;
  /** etcd's cluster ID where the position was taken (absent in state files of older versions). */
  cluster?: string;
  /** The highest revision etcd reported (the registry moves on outside the watched prefix too). */
  seen?: string;
}

/** Where a registry is now: its cluster ID and current revision (from etcd's response header). */
export interface RegistryHeader {
  clusterId: string;
  revision: string;
}

const maxRev = (...revs: (string | undefined)[]) => revs.reduce<bigint>((m, r) => (r !== undefined && BigInt(r) > m ? BigInt(r) : m), 0n);

/** The known key written last (the one most likely to show another history), if any. */
export function anchorOf(known: Known): { key: string; rev: string } | undefined {
  let anchor: { key: string; rev: string } | undefined;
  for (const [key, { rev }] of Object.entries(known)) if (rev !== '0' && (!anchor || BigInt(rev) > BigInt(anchor.rev))) anchor = { key, rev };
  return anchor;
}

/**
 * Why `position` cannot come from the registry etcd reports now, or undefined: another cluster,
 * or a revision behind one already seen (a wiped cluster counts from 1 again, under the same ID
 * when it was made with the same name, peer URLs and token).
 */
export function otherHistory(position: Position, now: RegistryHeader): string | undefined {
  if (position.cluster && position.cluster !== now.clusterId)
    return `a different etcd cluster: ID ${now.clusterId}, the saved position's is ${position.cluster}`;
  const high = maxRev(position.revision, position.seen, anchorOf(position.known)?.rev);
  if (BigInt(now.revision) < high) return `its revision ${now.revision} went backwards from ${high}`;
  return undefined;
}

/**
 * Forget the revisions of a registry that is gone, keeping what was delivered (key and commit):
 * revision '0' makes the watcher re-list, and marks entries recognised by their commit only.
 */
export function rebase(position: Position, now: RegistryHeader): void {
  for (const entry of Object.values(position.known)) entry.rev = '0';
  position.revision = '0';
  position.cluster = now.clusterId;
  position.seen = now.revision;
}

/** A change seen in the registry, before it is verified or acted on. */
export interface Change {
  type: 'put' | 'delete';
  key: string;
  id: DatasetId;
  modRevision: string;
  /** The raw value (put only). */
  value?: string;
}

export const eventId = (key: string, modRevision: string) => `${key}@${modRevision}`;

/**
 * Changes between what was known and a fresh listing taken at `listRevision`: keys that are new or
 * were rewritten since (their mod revision moved), and keys that are gone.
 */
export function diffKnown(k: Keys, filter: Filter, known: Known, current: Map<string, { value: string; modRevision: string }>, listRevision: string): Change[] {
  const changes: Change[] = [];
  for (const [key, entry] of current) {
    const id = parseDatasetKey(k, key);
    if (!id || !matches(filter, id)) continue;
    if (known[key]?.rev !== entry.modRevision) changes.push({ type: 'put', key, id, modRevision: entry.modRevision, value: entry.value });
  }
  for (const key of Object.keys(known).sort()) {
    if (current.has(key)) continue;
    const id = parseDatasetKey(k, key);
    if (id && matches(filter, id)) changes.push({ type: 'delete', key, id, modRevision: listRevision });
  }
  return changes;
}

/** The environment of an --exec command for one event (no shell is involved). */
export function execEnv(event: {
  id: string;
  type: string;
  hub: string;
  date: string;
  operator: string;
  commit?: string;
  dataPath?: string;
}): Record<string, string> {
  const env: Record<string, string> = {
    SYNCER_EVENT_ID: event.id,
    SYNCER_EVENT_TYPE: event.type,
    SYNCER_HUB: event.hub,
    SYNCER_DATE: event.date,
    SYNCER_OPERATOR: event.operator,
  };
  if (event.commit) env.SYNCER_COMMIT = event.commit;
  if (event.dataPath) env.SYNCER_PATH = event.dataPath;
  return env;
}

/** Exponential backoff for failed --exec runs: 0.5 s, 1 s, 2 s, ... capped. */
export const backoffMs = (attempt: number, baseMs = 500, capMs = 10_000) => Math.min(capMs, baseMs * 2 ** (attempt - 1));
