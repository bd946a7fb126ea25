/**
 * syncer mirror --to DEST: keep an archive of advertised datasets. Stage 1 re-checks runs the
 * archive recorded as in progress; stage 2 takes new advertisements (first run: the newest
 * --initial-sync-limit dates of each hub) and records runs in progress. A failing operator remote
 * is reported and the others are still mirrored (exit 4 at the end); a rerun with nothing new
 * changes nothing.
 */
import { hasKind, SyncerError, usageError } from '../../errors.js';
import { checkName } from '../../core/names.js';
import { matchesFilter, parseDatasetKey } from '../../core/keys.js';
import { parseAdvertisement, type Advertisement } from '../../core/advertisement.js';
import { escapeControl } from '../../core/sanitize.js';
import type { Registry } from '../../adapters/registry.js';
import type { Runtime } from '../../runtime.js';
import { Verifier } from '../../verifier.js';
import { MirrorDest, mirrorTagRef } from './dest.js';
import { contentLimits } from '../../core/dataset-contents.js';
import { datasetContentsProblem, type ContentPolicy } from '../retrieve/fetch.js';
import { countStatuses, entryKey, planStage1, planStage2, setApartReplays, type InProgress, type MirrorState, type MirrorStatus } from './plan.js';

export interface MirrorOptions {
  to: string;
  hubs: string[];
  operators: string[];
  initialSyncLimit: number;
  inProgressTimeout: number;
  allowUnsigned?: boolean;
  acceptKey?: boolean;
  /** Archive datasets whose symbolic links lead out of them (refused by default). */
  allowSymlinks?: boolean;
  /** Only datasets their hub's validators accepted (the Verifier skips the others). */
  accepted?: boolean;
}

interface Change {
  key: string;
  status: MirrorStatus | 'failed';
  commit?: string;
  runId?: string;
  reason?: string;
  /** Failed verification (exit 5), not a failing remote (exit 4). */
  refused?: boolean;
}

/** The registry's advertisements (valid and verified) and runs in progress, within the filters. */
async function snapshot(rt: Runtime, registry: Registry, verifier: Verifier, o: MirrorOptions) {
  const hubs = o.hubs.length ? o.hubs : [undefined];
  const ads: Advertisement[] = [];
  let revision = '0';
  for (const hub of hubs) {
    const listing = await registry.listDatasetsAt(hub);
    if (BigInt(listing.revision) > BigInt(revision)) revision = listing.revision;
    for (const kv of listing.kvs) {
      const id = parseDatasetKey(registry.keys, kv.key);
      if (!id || !matchesFilter(o, id)) continue;
      const parsed = parseAdvertisement(kv.value, { expect: id, transports: rt.config.allowedTransports });
      const problem = parsed.ok ? await verifier.problem(parsed.ad) : parsed.problem;
      if (problem || !parsed.ok) rt.out.warn(`skipping ${id.hub}/${id.date}/${id.operator}: ${escapeControl(problem ?? '')}`);
      else ads.push(parsed.ad);
    }
  }
  const running: InProgress[] = (await registry.listInProgress()).filter((r) => matchesFilter(o, r));
  return { ads, running, revision };
}

/**
 * The archive holds git objects, not a checkout, so a link cannot be followed there; but what it
 * holds is served on (peers retrieve from it, `reindex --from-mirror` re-advertises it, anyone may
 * `git clone` it without syncer's checks). So it takes only what a reader would take: the size the
 * operator signed, within the limits, and (without --allow-symlinks) no links out of the dataset.
 * A refused dataset's tag is put back as it was before this run (or removed): never archived.
 */
async function refuseContents(
  dest: MirrorDest,
  ads: Advertisement[],
  policy: ContentPolicy,
  before: Map<string, string>,
  problems: Map<string, string>,
): Promise<void> {
  for (const ad of ads) {
    const ref = mirrorTagRef(ad);
    if (problems.has(ref)) continue;
    const problem = await datasetContentsProblem(dest.git, ad, policy, 'it');
    if (!problem) continue;
    problems.set(ref, `${entryKey(ad)}: ${problem.message}`);
    await dest.restoreRef(ref, before.get(ref));
  }
}

/** Fetch and check the tags of these advertisements, one fetch per operator remote. */
async function mirrorAds(rt: Runtime, dest: MirrorDest, state: MirrorState, ads: Advertisement[], changes: Change[], policy: ContentPolicy): Promise<void> {
  const byRemote = new Map<string, Advertisement[]>();
  for (const ad of ads) byRemote.set(ad.remote, [...(byRemote.get(ad.remote) ?? []), ad]);
  const now = rt.now().toISOString();
  for (const [remote, group] of byRemote) {
    const before = await dest.refTargets(group);
    try {
      await dest.fetchTags(remote, group);
    } catch (e) {
      if (!hasKind(e, 'REMOTE')) throw e;
      rt.out.warn(`${group[0]!.operator}: ${e.message}`);
      for (const ad of group) changes.push({ key: entryKey(ad), status: 'failed', reason: e.message });
      continue;
    }
    const problems = await dest.verifyTags(group);
    await refuseContents(dest, group, policy, before, problems);
    // The datasets' git-lfs objects come into the archive too: an archive of pointers is no archive.
    let lfsFailure: string | undefined;
    try {
      await dest.fetchLfsObjects(
        remote,
        group.filter((ad) => !problems.has(mirrorTagRef(ad))),
      );
    } catch (e) {
      if (!hasKind(e, 'REMOTE')) throw e;
      lfsFailure = e.hint ? `${e.message} (${e.hint})` : e.message;
      rt.out.warn(`${group[0]!.operator}: ${lfsFailure}`);
    }
    for (const ad of group) {
      const key = entryKey(ad);
      const problem = problems.get(mirrorTagRef(ad));
      if (problem) {
        rt.out.warn(escapeControl(problem));
        changes.push({ key, status: 'failed', reason: problem, refused: true });
        continue;
      }
      if (lfsFailure) {
        changes.push({ key, status: 'failed', reason: lfsFailure });
        continue;
      }
      state.entries[key] = {
        hub: ad.hub,
        date: ad.date,
        operator: ad.operator,
        status: 'mirrored',
        runId: ad.runId,
        commit: ad.commit,
        syncedAt: ad.syncedAt,
        updatedAt: now,
      };
      changes.push({ key, status: 'mirrored', commit: ad.commit, runId: ad.runId });
    }
  }
}

export async function mirror(rt: Runtime, o: MirrorOptions): Promise<{ counts: Record<MirrorStatus, number>; changes: Change[]; archive: string }> {
  for (const h of o.hubs) checkName('hub', h);
  for (const op of o.operators) checkName('operator', op);
  if (!Number.isInteger(o.initialSyncLimit) || o.initialSyncLimit < 1) throw usageError('--initial-sync-limit must be a positive whole number');
  if (!(o.inProgressTimeout > 0)) throw usageError('--in-progress-timeout must be a positive number of minutes');

  const policy: ContentPolicy = { allowSymlinks: !!o.allowSymlinks, limits: contentLimits(rt.config) };
  const registry = await rt.registry();
  const verifier = new Verifier(rt, registry, o);
  const dest = await MirrorDest.open(rt, o.to);
  const { state, head } = await dest.readState();
  const before = JSON.stringify({ ...state, revision: undefined });
  const listed = await snapshot(rt, registry, verifier, o);
  const { running, revision } = listed;
  const { fresh: ads, older } = setApartReplays(state, listed.ads);
  for (const { ad, mirroredAt } of older) {
    rt.out.skip(
      `${ad.hub}/${ad.date}/${ad.operator}`,
      `synced at ${ad.syncedAt}, older than the entry already mirrored (synced at ${mirroredAt}): a replayed advertisement?`,
    );
  }
  const now = rt.now();
  const changes: Change[] = [];

  // Stage 1: runs recorded as in progress.
  const adsByKey = new Map(ads.map((ad) => [entryKey(ad), ad]));
  const runningByKey = new Map(running.map((r) => [entryKey(r), r]));
  const stage1 = planStage1(state, adsByKey, runningByKey, now, o.inProgressTimeout);
  await mirrorAds(
    rt,
    dest,
    state,
    stage1.flatMap((d) => (d.action === 'mirror' ? [d.ad] : [])),
    changes,
    policy,
  );
  for (const d of stage1) {
    if (d.action !== 'unknown') continue;
    state.entries[d.key] = { ...state.entries[d.key]!, status: 'unknown', updatedAt: now.toISOString() };
    changes.push({ key: d.key, status: 'unknown', runId: state.entries[d.key]!.runId, reason: d.reason });
  }

  // Stage 2: what is new.
  const plan = planStage2(state, ads, running, o.initialSyncLimit, new Set(stage1.map((d) => d.key)));
  for (const [hub, floor] of Object.entries(plan.floors)) state.hubs[hub] = { floor };
  await mirrorAds(rt, dest, state, plan.mirror, changes, policy);
  for (const r of plan.inProgress) {
    const key = entryKey(r);
    state.entries[key] = {
      hub: r.hub,
      date: r.date,
      operator: r.operator,
      status: 'in-progress',
      runId: r.runId,
      firstSeen: now.toISOString(),
      updatedAt: now.toISOString(),
    };
    changes.push({ key, status: 'in-progress', runId: r.runId });
  }

  // Record the state only when something changed: a rerun with nothing new writes nothing.
  if (JSON.stringify({ ...state, revision: undefined }) !== before) {
    state.revision = revision;
    await dest.writeState(state, head, `mirror: ${changes.filter((c) => c.status !== 'failed').length} change(s) at registry revision ${revision}`);
    await dest.publish();
  }
  return { counts: countStatuses(state), changes, archive: dest.url };
}

export async function run(rt: Runtime, o: MirrorOptions): Promise<void> {
  const r = await mirror(rt, o);
  const failed = r.changes.filter((c) => c.status === 'failed');
  rt.out.result(r, () => {
    const lines = r.changes.map((c) => `${c.status.padEnd(11)} ${c.key}${c.commit ? ` ${c.commit.slice(0, 12)}` : ''}${c.reason ? ` (${c.reason})` : ''}`);
    const counts = Object.entries(r.counts)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    return [...lines, `archive ${r.archive}: ${counts}${r.changes.length ? '' : ' (nothing new)'}`].join('\n');
  });
  if (failed.some((c) => c.refused)) {
    throw new SyncerError(
      'VERIFY',
      `${failed.filter((c) => c.refused).length} dataset(s) refused: the archived tag disagrees with the registry, or the dataset is not what a ` +
        `reader may take`,
      { hint: 'see the warnings above; the others were mirrored' },
    );
  }
  if (failed.length)
    throw new SyncerError('REMOTE', `${failed.length} dataset(s) could not be mirrored`, {
      hint: 'see the warnings above; rerun mirror once the remotes are back',
    });
}
