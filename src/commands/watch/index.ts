/**
 * syncer watch: follow the registry and print one NDJSON event per new, replaced or removed
 * advertisement (optionally --retrieve it and --exec a command), never missing one; --group makes
 * several watchers elect one leader that acts; --replay runs the actions again over an events log.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { hasKind, interrupted, usageError } from '../../errors.js';
import { checkName } from '../../core/names.js';
import { parseDatasetKey } from '../../core/keys.js';
import type { Registry } from '../../adapters/registry.js';
import type { Runtime } from '../../runtime.js';
import { Verifier } from '../../verifier.js';
import { actOn, follow, type FollowContext } from './follow.js';
import { appendEventLog } from './actions.js';
import { defaultStateFile, fileStore, groupCopyFile, groupStore } from './state.js';
import { matches, type Change } from './events.js';
import { waitUnlessStopped } from '../../adapters/wait.js';
import { envKnob } from '../../config/resolve.js';

export interface WatchOptions {
  hubs: string[];
  operators: string[];
  fromStart?: boolean;
  state?: string;
  retrieve?: boolean;
  exec?: string[];
  eventsLog?: string;
  replay?: string;
  group?: string;
  allowUnsigned?: boolean;
  acceptKey?: boolean;
}

const ACTION_ATTEMPTS = 3;

/** Run the actions again over an events log (JSONL written by --events-log). */
async function replay(ctx: FollowContext, file: string): Promise<void> {
  let lines: string[];
  try {
    lines = readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l.trim() !== '');
  } catch (e) {
    throw usageError(`cannot read the events log ${file}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  for (const [i, line] of lines.entries()) {
    if (ctx.signal.aborted) return;
    let change: Change | undefined;
    try {
      const raw = JSON.parse(line) as Change;
      const id = parseDatasetKey(ctx.registry.keys, raw.key);
      if (id && (raw.type === 'put' || raw.type === 'delete') && /^\d+$/.test(raw.modRevision)) change = { ...raw, id };
    } catch {
      /* reported below */
    }
    if (!change) {
      ctx.rt.out.warn(`${file}:${i + 1}: not an event of this registry; skipped`);
      continue;
    }
    // Every logged event (of the --hub/--operator filter) is acted on again, removals included,
    // and marked as a replay.
    if (matches(ctx.filter, change.id)) await actOn(ctx, change, { replay: true });
  }
}

/**
 * --group: campaign for leadership; only the leader follows, from the group's position in etcd
 * (which only it may write). A leader that loses its lease stops after the current action and
 * campaigns again; a registry failure while leading does the same instead of ending the watcher.
 */
async function leadGroup(ctx: FollowContext, registry: Registry, group: string, fromStart: boolean, ttl: number): Promise<void> {
  const { rt } = ctx;
  const me = `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const pause = (ms: number) => waitUnlessStopped(ms, ctx.signal);
  while (!ctx.signal.aborted) {
    const campaign = registry.campaignForWatchGroup(group, me, ttl);
    rt.out.info(`waiting to lead watch group ${group} (as ${me})`);
    let leading = false;
    const lost = new AbortController();
    const elected = await new Promise<boolean>((res) => {
      const onAbort = () => res(false);
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      campaign.onElected(() => {
        ctx.signal.removeEventListener('abort', onAbort);
        res(true);
      });
      campaign.onError((e) => {
        ctx.signal.removeEventListener('abort', onAbort);
        if (leading) rt.out.warn(`lost the leadership of group ${group} (${e.message})`);
        else rt.out.warn(`campaign for group ${group} failed (${e.message}); trying again`);
        lost.abort();
        res(false);
      });
    });
    if (!elected) {
      await campaign.resign().catch(() => undefined);
      if (!ctx.signal.aborted) await pause(1000);
      continue;
    }
    leading = true;
    const stop = () => lost.abort();
    ctx.signal.addEventListener('abort', stop, { once: true });
    try {
      const key = await campaign.key();
      rt.out.info(`leading watch group ${group}`);
      const onLost = () => {
        if (!lost.signal.aborted) rt.out.warn(`lost the leadership of group ${group} (its election key is gone)`);
        lost.abort();
      };
      const copy = { file: groupCopyFile(rt.paths.dataDir, rt.registryId, group), warn: (m: string) => rt.out.warn(m) };
      const store = groupStore(registry, group, { key, onLost }, copy);
      const stillLeading = async () => {
        if (lost.signal.aborted) return false;
        if (await registry.holdsElectionKey(key)) return true;
        onLost();
        return false;
      };
      await follow({ ...ctx, store, signal: lost.signal, stillLeading }, { fromStart });
    } catch (e) {
      if (!hasKind(e, 'REGISTRY') || ctx.signal.aborted) throw e;
      rt.out.warn(`${e.message}; stepping down and campaigning again`);
      await pause(1000);
    } finally {
      ctx.signal.removeEventListener('abort', stop);
      await campaign.resign().catch(() => undefined);
    }
  }
}

export async function run(rt: Runtime, options: WatchOptions): Promise<void> {
  for (const h of options.hubs) checkName('hub', h);
  for (const o of options.operators) checkName('operator', o);
  if (options.group !== undefined) checkName('group', options.group);
  if (options.retrieve && !rt.config.importDir) throw usageError('--retrieve needs an import directory', 'set importDir (syncer config set importDir DIR)');
  if (options.replay && options.group) throw usageError('--replay and --group exclude each other');
  if (options.state && options.group) throw usageError('--state and --group exclude each other', 'a group keeps its position in etcd');
  // Bounded (2-3,600 s, exit 2): an enormous lease would keep a dead leader elected, the group retrying forever.
  const ttl = envKnob(rt.env, 'SYNCER_WATCH_LEASE_TTL');

  const eventsLog = options.eventsLog ? resolve(rt.deps.cwd, options.eventsLog) : undefined;
  if (eventsLog) {
    try {
      appendEventLog(eventsLog, undefined); // creates it: an unwritable log is bad input, found now
    } catch (e) {
      throw usageError(`cannot write the events log ${eventsLog}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  const registry = await rt.registry();
  const filter = { hubs: options.hubs, operators: options.operators };
  const ctx: FollowContext = {
    rt,
    registry,
    verifier: new Verifier(rt, registry, options),
    filter,
    store: fileStore(options.state ? resolve(rt.deps.cwd, options.state) : defaultStateFile(rt.paths.dataDir, rt.registryId, filter)),
    actions: { retrieve: options.retrieve, exec: options.exec, attempts: ACTION_ATTEMPTS },
    eventsLog,
    signal: rt.deps.signal,
  };
  if (options.replay) await replay(ctx, resolve(rt.deps.cwd, options.replay));
  else if (options.group) await leadGroup(ctx, registry, options.group, !!options.fromStart, ttl);
  else await follow(ctx, { fromStart: options.fromStart });
  if (rt.deps.signal.aborted) throw interrupted();
}
