/**
 * The mirror's decisions, pure (a builds-synchronisation algorithm applied to datasets). Stage 1 re-checks what the archive recorded as in progress; ' +
   'stage 2 takes what is new:
 * on a hub's first run only its newest `initialSyncLimit` dates, afterwards every advertisement
 * from that window on that the archive does not hold yet (same-day replacements included).
 */
import type { Advertisement } from '../../core/advertisement.js';

export type MirrorStatus = 'mirrored' | 'in-progress' | 'unknown';

export interface MirrorEntry {
  hub: string;
  date: string;
  operator: string;
  status: MirrorStatus;
  runId: string;
  commit?: string;
  /** When the mirrored advertisement was synced: an older one for the same key is a replay. */
  syncedAt?: string;
  /** When this mirror first saw the run in progress (its own clock). */
  firstSeen?: string;
  updatedAt: string;
}

export interface MirrorState {
  version: 1;
  /** Registry revision the last run reached. */
  revision?: string;
  /** Per hub: the oldest date of the first run's window; older dates are never mirrored. */
  hubs: Record<string, { floor: string }>;
  entries: Record<string, MirrorEntry>;
}

export interface InProgress {
  hub: string;
  date: string;
  operator: string;
  runId: string;
  startedAt: string;
}

export const entryKey = (e: { hub: string; date: string; operator: string }) => `${e.hub}/${e.date}/${e.operator}`;
export const emptyState = (): MirrorState => ({ version: 1, hubs: {}, entries: {} });

export type Stage1Decision =
  | { key: string; action: 'mirror'; ad: Advertisement }
  | { key: string; action: 'unknown'; reason: string }
  | { key: string; action: 'wait' };

/** Stage 1: what to do with each entry recorded as in progress. */
export function planStage1(
  state: MirrorState,
  ads: Map<string, Advertisement>,
  running: Map<string, InProgress>,
  now: Date,
  timeoutMinutes: number,
): Stage1Decision[] {
  const out: Stage1Decision[] = [];
  for (const [key, entry] of Object.entries(state.entries)) {
    if (entry.status !== 'in-progress') continue;
    const ad = ads.get(key);
    if (ad && ad.runId === entry.runId) {
      out.push({ key, action: 'mirror', ad });
      continue;
    }
    const run = running.get(key);
    if (!run || run.runId !== entry.runId) {
      out.push({ key, action: 'unknown', reason: 'the sync ended without advertising' });
      continue;
    }
    const waited = (now.getTime() - Date.parse(entry.firstSeen ?? entry.updatedAt)) / 60_000;
    if (waited > timeoutMinutes) out.push({ key, action: 'unknown', reason: `still in progress after ${timeoutMinutes} min` });
    else out.push({ key, action: 'wait' });
  }
  return out;
}

export interface Stage2Plan {
  /** Advertisements to mirror (new, or a replacement of what is mirrored). */
  mirror: Advertisement[];
  /** Runs in progress not yet recorded. */
  inProgress: InProgress[];
  /** New hub windows (first run for the hub). */
  floors: Record<string, string>;
}

/**
 * Readers never go back in time for an entry they have seen: advertisements older than the one
 * already mirrored for the same key (an operator's genuine older entry, replayed) are set apart.
 */
export function setApartReplays(state: MirrorState, ads: Advertisement[]): { fresh: Advertisement[]; older: { ad: Advertisement; mirroredAt: string }[] } {
  const fresh: Advertisement[] = [];
  const older: { ad: Advertisement; mirroredAt: string }[] = [];
  for (const ad of ads) {
    const e = state.entries[entryKey(ad)];
    if (e?.status === 'mirrored' && e.syncedAt && Date.parse(ad.syncedAt) < Date.parse(e.syncedAt)) older.push({ ad, mirroredAt: e.syncedAt });
    else fresh.push(ad);
  }
  return { fresh, older };
}

/** Stage 2: new advertisements and runs, within each hub's window. */
export function planStage2(state: MirrorState, ads: Advertisement[], running: InProgress[], initialSyncLimit: number, handled: Set<string>): Stage2Plan {
  const floors: Record<string, string> = {};
  const datesByHub = new Map<string, Set<string>>();
  // Floors come from verified advertisements only: in-progress keys are unsigned (anyone who may
  // write the registry can plant them, dated 2099, and would otherwise fix a hub's window there).
  for (const x of ads) {
    const s = datesByHub.get(x.hub) ?? new Set<string>();
    s.add(x.date);
    datesByHub.set(x.hub, s);
  }
  for (const [hub, dates] of datesByHub) {
    if (state.hubs[hub]) continue;
    const newest = [...dates].sort().reverse().slice(0, Math.max(1, initialSyncLimit));
    floors[hub] = newest[newest.length - 1]!;
  }
  const floor = (hub: string) => state.hubs[hub]?.floor ?? floors[hub]!;
  const mirror = ads.filter((ad) => {
    const key = entryKey(ad);
    if (handled.has(key) || ad.date < floor(ad.hub)) return false;
    const e = state.entries[key];
    return !e || !(e.status === 'mirrored' && e.runId === ad.runId);
  });
  const inProgress = running.filter((r) => {
    const key = entryKey(r);
    if (handled.has(key) || r.date < floor(r.hub)) return false;
    const e = state.entries[key];
    if (e && e.runId === r.runId) return false; // already recorded (in progress, unknown or mirrored)
    return !ads.some((ad) => entryKey(ad) === key && ad.runId === r.runId);
  });
  return { mirror, inProgress, floors };
}

/** Counts per status, for the summary. */
export function countStatuses(state: MirrorState): Record<MirrorStatus, number> {
  const counts: Record<MirrorStatus, number> = { mirrored: 0, 'in-progress': 0, unknown: 0 };
  for (const e of Object.values(state.entries)) counts[e.status] += 1;
  return counts;
}
