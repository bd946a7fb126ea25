/**
 * The watch loop. Start from the saved position (or list the registry on a first start), watch
 * from the next revision, and handle changes one at a time: verify, act, print, then save the
 * position. If the watch breaks (a compacted revision, a lost connection), re-list and act on the
 * difference with what was known, removals included, then watch again. Delivery is at least once;
 * an event already acted on is recognised by its mod revision and not run twice.
 */
import { parseAdvertisement } from '../../core/advertisement.js';
import { parseDatasetKey } from '../../core/keys.js';
import { escapeControl } from '../../core/sanitize.js';
import type { Registry } from '../../adapters/registry.js';
import type { Runtime } from '../../runtime.js';
import type { Verifier } from '../../verifier.js';
import { act, appendEventLog, type ActionOptions, type WatchEvent } from './actions.js';
import { diffKnown, eventId, matches, type Change, type Filter, type Position } from './events.js';
import type { PositionStore } from './state.js';

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
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const minus1 = (rev: string) => String(BigInt(rev) - 1n);

/** Verify, act, print and record one change. */
export async function handle(ctx: FollowContext, position: Position, change: Change): Promise<void> {
  const { rt, filter } = ctx;
  const known = position.known[change.key];
  // Already acted on (a replay of the last revision after a restart): skip.
  const done = change.type === 'put' ? known?.rev === change.modRevision : known === undefined;
  if (!done && matches(filter, change.id)) {
    appendEventLog(ctx.eventsLog, { ...change, receivedAt: rt.now().toISOString() });
    const event: WatchEvent = { id: eventId(change.key, change.modRevision), type: change.type, ...change.id, revision: change.modRevision };
    let acted = true;
    let ad;
    if (change.type === 'put') {
      const parsed = parseAdvertisement(change.value ?? '', { expect: change.id, transports: rt.config.allowedTransports });
      const problem = parsed.ok ? await ctx.verifier.problem(parsed.ad) : parsed.problem;
      if (problem || !parsed.ok) {
        rt.out.warn(`skipping ${change.id.hub}/${change.id.date}/${change.id.operator}: ${escapeControl(problem ?? '')}`);
        acted = false;
      } else {
        ad = parsed.ad;
        event.commit = ad.commit;
        event.syncedAt = ad.syncedAt;
      }
    }
    if (acted) rt.out.event(await act(rt, ad, event, ctx.actions));
    if (change.type === 'put') position.known[change.key] = { rev: change.modRevision, commit: ad?.commit ?? '' };
  }
  if (change.type === 'delete') delete position.known[change.key];
  // One revision may carry several changes: keep it until all are done (they are skipped above).
  position.revision = minus1(change.modRevision);
  await ctx.store.save(position);
}

async function listing(registry: Registry): Promise<{ current: Map<string, { value: string; modRevision: string }>; revision: string }> {
  const { kvs, revision } = await registry.etcd.listAt(registry.keys.datasetsPrefix);
  const current = new Map(kvs.map((kv) => [kv.key, { value: kv.value.toString(), modRevision: kv.modRevision }]));
  return { current, revision };
}

/** Re-list the registry and act on what changed since `position` (removals included). */
async function resync(ctx: FollowContext, position: Position): Promise<void> {
  const { current, revision } = await listing(ctx.registry);
  for (const change of diffKnown(ctx.registry.keys, ctx.filter, position.known, current, revision)) {
    if (ctx.signal.aborted) return;
    await handle(ctx, position, change);
  }
  position.revision = revision;
  await ctx.store.save(position);
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

/** Watch from position.revision + 1 until the signal stops us (resolves) or the watch breaks (rejects). */
async function watchOnce(ctx: FollowContext, position: Position): Promise<void> {
  const { registry } = ctx;
  const watcher = await registry.etcd.client
    .watch()
    .prefix(registry.keys.datasetsPrefix)
    .startRevision(String(BigInt(position.revision) + 1n))
    .create();
  const queue: Change[] = [];
  let wake: (() => void) | undefined;
  let failure: Error | undefined;
  const push = (type: Change['type'], kv: { key: Buffer; value: Buffer; mod_revision: string }) => {
    const key = kv.key.toString();
    const id = parseDatasetKey(registry.keys, key);
    if (!id) {
      ctx.rt.out.warn(`skipping malformed registry key ${escapeControl(key)}`);
      return;
    }
    queue.push({ type, key, id, modRevision: kv.mod_revision, value: type === 'put' ? kv.value.toString() : undefined });
    wake?.();
  };
  watcher.on('put', (kv) => push('put', kv));
  watcher.on('delete', (kv) => push('delete', kv));
  watcher.on('error', (e) => {
    failure = e;
    wake?.();
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
    await watcher.cancel().catch(() => undefined);
  }
}

export async function follow(ctx: FollowContext, options: { fromStart?: boolean }): Promise<void> {
  const position = await startPosition(ctx, !!options.fromStart);
  ctx.rt.out.info(`watching ${ctx.registry.keys.datasetsPrefix} from revision ${BigInt(position.revision) + 1n} (position in ${ctx.store.describe})`);
  let delay = 500;
  while (!ctx.signal.aborted) {
    try {
      await watchOnce(ctx, position);
    } catch (e) {
      if (ctx.signal.aborted) break;
      ctx.rt.out.warn(`the watch stopped (${(e as Error).message}); re-listing the registry and going on`);
      await sleep(delay);
      delay = Math.min(delay * 2, 10_000);
      try {
        await resync(ctx, position);
        delay = 500;
      } catch (err) {
        ctx.rt.out.warn(`re-listing failed (${(err as Error).message}); retrying`);
      }
    }
  }
}
