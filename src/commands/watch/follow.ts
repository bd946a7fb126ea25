/**
 * The watch loop. Start from the saved position (or list the registry on a first start), watch
 * from the next revision, and handle changes one at a time: verify, act, print, then save the
 * position. If the connection is lost (etcd restarted, network down: gRPC keepalive notices),
 * watch again from the saved position once etcd is back. If etcd cancels the watch (its revision
 * was compacted), re-list and act on the difference with what was known, removals included, then
 * watch again. Before every (re)start of the watch, check that etcd still holds the history the
 * position comes from (same cluster ID, no revision gone backwards, the last known key at its
 * revision): a wiped or restored registry is re-listed instead. Delivery is at least once; an
 * event already acted on is recognised by its mod revision (after a wipe: by key and commit) and
 * not run twice.
 */
import { parseAdvertisement, type Advertisement } from '../../core/advertisement.js';
import { parseDatasetKey } from '../../core/keys.js';
import { escapeControl } from '../../core/sanitize.js';
import type { KeyValue, Registry } from '../../adapters/registry.js';
import type { Runtime } from '../../runtime.js';
import type { Verifier } from '../../verifier.js';
import { act, appendEventLog, type ActionOptions, type WatchEvent } from './actions.js';
import { anchorOf, diffKnown, eventId, matches, otherHistory, rebase, type Change, type Filter, type Position, type RegistryHeader } from './events.js';
import { hasKind } from '../../errors.js';
import type { PositionStore } from './state.js';
import { waitUnlessStopped } from '../../adapters/wait.js';

export interface FollowContext {
  rt: Runtime;
  registry: Registry;
  verifier: Verifier;
  filter: Filter;
  store: PositionStore;
  actions: ActionOptions;
  eventsLog?: string;
  /** Stops following (after the current action). */
  signal: AbortSignal;
  /**
   * --group: whether this watcher still leads, asked before each action (a leader paused past its
   * lease must not act on what it receives when it wakes up). Resolves false once it does not.
   */
  stillLeading?: () => Promise<boolean>;
}

/** This watcher no longer leads its group: stop, act on nothing more. */
export class LeadershipLost extends Error {}

const minus1 = (rev: string) => String(BigInt(rev) - 1n);

/**
 * Verify and act on one change, and print its event. Returns the advertised commit and its sync
 * time ('' if none or refused; undefined when refused as older than `seenAt`, what was delivered
 * for the key: readers never go back in time for an entry they have seen).
 */
export async function actOn(
  ctx: FollowContext,
  change: Change,
  extra: Partial<WatchEvent> = {},
  seenAt?: string,
): Promise<{ commit: string; at?: string } | undefined> {
  const { rt } = ctx;
  const event: WatchEvent = { id: eventId(change.key, change.modRevision), type: change.type, ...change.id, revision: change.modRevision, ...extra };
  let ad: Advertisement | undefined;
  if (change.type === 'put') {
    const parsed = parseAdvertisement(change.value ?? '', { expect: change.id, transports: rt.config.allowedTransports });
    const problem = parsed.ok ? await ctx.verifier.problem(parsed.ad) : parsed.problem;
    if (problem || !parsed.ok) {
      rt.out.warn(`skipping ${change.id.hub}/${change.id.date}/${change.id.operator}: ${escapeControl(problem ?? '')}`);
      return { commit: '' };
    }
    if (seenAt && Date.parse(parsed.ad.syncedAt) < Date.parse(seenAt)) {
      rt.out.warn(
        `skipping ${change.id.hub}/${change.id.date}/${change.id.operator}: synced at ${parsed.ad.syncedAt}, older than the entry already delivered ` +
          `for it (synced at ${seenAt}): a replayed advertisement?`,
      );
      return undefined;
    }
    ad = parsed.ad;
    event.commit = ad.commit;
    event.syncedAt = ad.syncedAt;
  }
  await rt.out.event(await act(rt, ad, event, ctx.actions));
  return { commit: ad?.commit ?? '', ...(ad ? { at: ad.syncedAt } : {}) };
}

/**
 * Whether `change` was already acted on: a put at or before the revision known for its key (a
 * replay after a restart, or a stale event after a re-list), or a delete of a key not known or
 * known at a later revision.
 */
function alreadyDone(position: Position, change: Change): boolean {
  const known = position.known[change.key];
  if (change.type === 'put') return known !== undefined && BigInt(known.rev) >= BigInt(change.modRevision);
  return known === undefined || BigInt(known.rev) > BigInt(change.modRevision);
}

/**
 * Whether `change` puts an advertisement already delivered from a registry that is gone (wiped,
 * restored: its entries kept with revision '0'): same key, same commit. Acting on nothing, it
 * needs no verification; any other content is acted on as new.
 */
function deliveredBefore(ctx: FollowContext, position: Position, change: Change): boolean {
  const known = position.known[change.key];
  if (change.type !== 'put' || known?.rev !== '0' || !known.commit) return false;
  const parsed = parseAdvertisement(change.value ?? '', { expect: change.id, transports: ctx.rt.config.allowedTransports });
  return parsed.ok && parsed.ad.commit === known.commit;
}

/**
 * Verify, act, print and record one change. `advance`: move the position to just before this
 * change's revision (changes from a watch come in revision order; a re-list's do not, and the
 * re-list moves the position itself once everything is done).
 */
export async function handle(ctx: FollowContext, position: Position, change: Change, advance = true): Promise<void> {
  if (deliveredBefore(ctx, position, change)) {
    position.known[change.key]!.rev = change.modRevision;
  } else if (!alreadyDone(position, change)) {
    if (matches(ctx.filter, change.id)) {
      if (ctx.stillLeading && !(await ctx.stillLeading())) throw new LeadershipLost('no longer the leader of the watch group');
      appendEventLog(ctx.eventsLog, { ...change, receivedAt: ctx.rt.now().toISOString() });
      const before = position.known[change.key];
      const done = await actOn(ctx, change, {}, before?.at);
      // A refused replay keeps what was delivered (and its time); the revision moves past it.
      if (change.type === 'put') position.known[change.key] = done ? { rev: change.modRevision, ...done } : { ...before!, rev: change.modRevision };
    }
    if (change.type === 'delete') delete position.known[change.key];
  }
  // One revision may carry several changes: keep it until all are done (they are skipped above).
  if (advance && BigInt(change.modRevision) - 1n > BigInt(position.revision)) position.revision = minus1(change.modRevision);
  await ctx.store.save(position, [change.key]);
}

async function listing(registry: Registry): Promise<{ current: Map<string, { value: string; modRevision: string }>; revision: string }> {
  const { kvs, revision } = await registry.listDatasetsAt();
  const current = new Map(kvs.map((kv) => [kv.key, { value: kv.value.toString(), modRevision: kv.modRevision }]));
  return { current, revision };
}

/**
 * Re-list the registry and act on what changed since `position` (removals included). The position
 * keeps its old revision until every change is done, so a crash half-way re-lists again (and skips
 * what was acted on, by the known revisions) instead of jumping over changes not yet acted on.
 */
async function resync(ctx: FollowContext, position: Position): Promise<void> {
  const { current, revision } = await listing(ctx.registry);
  const changes = diffKnown(ctx.registry.keys, ctx.filter, position.known, current, revision);
  // Oldest first, as a watch would have delivered them; removals (at the listing's revision) last.
  changes.sort((x, y) => (BigInt(x.modRevision) < BigInt(y.modRevision) ? -1 : BigInt(x.modRevision) > BigInt(y.modRevision) ? 1 : 0));
  for (const change of changes) {
    if (ctx.signal.aborted) return;
    await handle(ctx, position, change, false);
  }
  position.revision = revision;
  await ctx.store.save(position, []);
}

/** The position to start from: saved, or (first start) now, or the beginning with --from-start. */
async function startPosition(ctx: FollowContext, fromStart: boolean): Promise<Position> {
  const saved = await ctx.store.load();
  if (saved) return saved;
  if (fromStart) {
    const position: Position = { revision: '0', known: {} };
    await resync(ctx, position);
    return position;
  }
  const { current, revision } = await listing(ctx.registry);
  const known: Position['known'] = {};
  for (const [key, entry] of current) {
    const id = parseDatasetKey(ctx.registry.keys, key);
    if (id && matches(ctx.filter, id)) known[key] = { rev: entry.modRevision, commit: '' };
  }
  const position = { revision, known };
  await ctx.store.save(position);
  return position;
}

/** The watch stream was lost (etcd restarted, network down): watch again from the position. */
class ConnectionLost extends Error {}

/**
 * Watch from position.revision + 1 until the signal stops us (resolves) or the watch breaks
 * (rejects: ConnectionLost, or the watch was cancelled by etcd, e.g. its revision was compacted).
 * The watcher is built with listeners attached at once: etcd can answer "created" and "cancelled"
 * (compacted) in one read, and an error emitted before a listener exists would be lost, leaving
 * the process with nothing to wait for. After a lost connection we do not let the client resume
 * by itself (it resumes from the last response's header revision, which can skip events of a
 * catch-up batch): we watch again from our own position.
 */
async function watchOnce(ctx: FollowContext, position: Position, onConnected: () => void): Promise<void> {
  const { registry } = ctx;
  const from = String(BigInt(position.revision) + 1n);
  let cancelledByEtcd = false;
  const queue: Change[] = [];
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  const push = (type: Change['type'], kv: KeyValue) => {
    if (failure) return; // after a failure, the next watch replays from the position
    const key = kv.key;
    const id = parseDatasetKey(registry.keys, key);
    if (!id) {
      ctx.rt.out.warn(`skipping malformed registry key ${escapeControl(key)}`);
      return;
    }
    queue.push({ type, key, id, modRevision: kv.modRevision, value: type === 'put' ? kv.value.toString() : undefined });
    wake?.();
  };
  const fail = (e: Error) => {
    failure ??= e;
    wake?.();
  };
  const watcher = registry.watchDatasets(from, {
    put: (kv) => push('put', kv),
    delete: (kv) => push('delete', kv),
    cancelled: (e) => {
      // etcd cancelled it (the client has already dropped it): typically, its start revision was compacted.
      cancelledByEtcd = true;
      const reason = (e as Error)?.message?.replace(/^Watcher canceled:\s*/, '') ?? '';
      fail(new Error(`etcd cancelled the watch from revision ${from}${reason ? `: ${reason}` : ' (that revision was probably compacted)'}`));
    },
    disconnected: (e) => fail(new ConnectionLost((e as Error)?.message ?? String(e))),
    connected: () => onConnected(),
  });
  const onAbort = () => wake?.();
  ctx.signal.addEventListener('abort', onAbort);
  try {
    for (;;) {
      while (queue.length > 0 && !ctx.signal.aborted) await handle(ctx, position, queue.shift()!);
      if (ctx.signal.aborted) return;
      if (failure) throw failure;
      await new Promise<void>((r) => (wake = r));
      wake = undefined;
    }
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    // A cancel waits for etcd to confirm (never, for a watch etcd already cancelled); never let a
    // dead connection hold us here either.
    if (!cancelledByEtcd) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([watcher.cancel().catch(() => undefined), new Promise((r) => (timer = setTimeout(r, 2000)))]);
      clearTimeout(timer);
    }
  }
}

/**
 * Why etcd now holds another history than the one `position` comes from (wiped and restarted,
 * restored from a backup, another cluster on the same URL), or undefined: its cluster ID changed,
 * its revision went backwards, or the known key written last is not at its revision there.
 * Unreachable etcd: ConnectionLost (the caller waits for it like for a lost watch).
 */
async function readHistory(ctx: FollowContext, position: Position): Promise<{ now: RegistryHeader; why?: string }> {
  const { registry } = ctx;
  try {
    const now = await registry.header();
    const why = otherHistory(position, now);
    const anchor = why ? undefined : anchorOf(position.known);
    if (!anchor) return { now, why };
    const then = await registry.datasetAt(anchor.key, anchor.rev);
    // Compacted: that history cannot be read; a compaction is no wipe (and its watch re-lists).
    if (then === 'compacted' || then?.modRevision === anchor.rev) return { now };
    return { now, why: `${escapeControl(anchor.key)} was not written at revision ${anchor.rev} there` };
  } catch (e) {
    if (hasKind(e, 'REGISTRY')) throw new ConnectionLost(e.message);
    throw e;
  }
}

/**
 * Before every (re)start of the watch: watching on from the old revision of a registry that was
 * replaced would skip the new one's writes below it. If it was, warn and reset the position to
 * re-list (keeping what was delivered): returns true. Else record the cluster and its revision.
 */
async function checkHistory(ctx: FollowContext, position: Position): Promise<boolean> {
  const { now, why } = await readHistory(ctx, position);
  if (why) {
    ctx.rt.out.warn(
      `etcd at ${ctx.registry.hosts.join(', ')} is not the registry the saved position (${ctx.store.describe}) comes from (${why}): ` +
        'it was wiped or restored; re-listing every advertisement (those delivered before with the same commit are not delivered again)',
    );
    rebase(position, now);
    await ctx.store.save(position); // every known revision changed
    return true;
  }
  if (position.cluster !== now.clusterId || BigInt(now.revision) > BigInt(position.seen ?? '0')) {
    position.cluster = now.clusterId;
    position.seen = now.revision;
    await ctx.store.save(position, []);
  }
  return false;
}

export async function follow(ctx: FollowContext, options: { fromStart?: boolean }): Promise<void> {
  const position = await startPosition(ctx, !!options.fromStart);
  ctx.rt.out.info(`watching ${ctx.registry.keys.datasetsPrefix} from revision ${BigInt(position.revision) + 1n} (position in ${ctx.store.describe})`);
  let delay = 500;
  let lost = false; // connection lost and not yet back: say so once
  // A saved revision 0: a re-list (after a wipe, or of --from-start) that a crash interrupted.
  let relist = position.revision === '0';
  const onConnected = () => {
    delay = 500;
    if (lost) ctx.rt.out.info(`connected to etcd again; watching from revision ${BigInt(position.revision) + 1n}`);
    lost = false;
  };
  while (!ctx.signal.aborted) {
    try {
      // Before every (re)start of the watch: etcd may have been wiped while we were away.
      if (await checkHistory(ctx, position)) relist = true;
      if (relist) {
        await resync(ctx, position);
        relist = false;
        delay = 500;
      }
      await watchOnce(ctx, position, onConnected);
    } catch (e) {
      if (ctx.signal.aborted) break;
      if (e instanceof ConnectionLost) {
        if (!lost)
          ctx.rt.out.warn(`lost the connection to etcd (${e.message}); watching again from revision ${BigInt(position.revision) + 1n} when it is back`);
        else ctx.rt.out.debug(`etcd still unreachable (${e.message})`);
        lost = true;
        await waitUnlessStopped(delay, ctx.signal);
        delay = Math.min(delay * 2, 5_000);
        continue;
      }
      if (relist) ctx.rt.out.warn(`re-listing failed (${(e as Error).message}); retrying`);
      else ctx.rt.out.warn(`the watch stopped (${(e as Error).message}); re-listing the registry and going on`);
      relist = true;
      await waitUnlessStopped(delay, ctx.signal);
      delay = Math.min(delay * 2, 10_000);
    }
  }
}
