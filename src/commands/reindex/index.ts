/**
 * syncer reindex: rebuild the registry from the operators' git remotes (git is the source of
 * truth; etcd is an index that can be lost). Reads each remote's `syncer/<hub>/<date>` tags without
 * cloning the data, verifies every advertisement (target commit, signature), and writes what is
 * missing or older in compare-and-swap transactions of <= 128 operations. A second run writes
 * nothing. `--prune` removes entries whose tag is gone (only for remotes read completely);
 * `--dry-run` writes nothing. A remote that cannot be read is reported, the others still
 * indexed, and the exit code is 4 at the end.
 */
import { usageError } from '../../errors.js';
import { resolve } from 'node:path';
import { fingerprint } from '../../core/signing.js';
import type { Keys } from '../../core/keys.js';
import { pinSourceOf } from '../../adapters/keystore.js';
import type { Registry } from '../../adapters/registry.js';
import type { Runtime } from '../../runtime.js';
import { mergeExplicit, parseRegistered, parseRemoteFlags, readRemotesFile, type RemoteTarget } from './inputs.js';
import { planReindex, type OperatorInput, type Plan, type Snapshot } from './plan.js';
import { failIfUnread, render, resultOf, warn, type ReindexResult } from './report.js';
import { gatherReads, readSources, type Registered } from './sources.js';
import type { Trust } from './verify.js';
import { writeMissingSeals } from './seals.js';
import { commitPlan, readOperators, readSnapshot, type CommitResult } from './write.js';

export type { ReindexResult, RemoteReport } from './report.js';

export interface ReindexOptions {
  remotes: string[];
  remotesFile?: string;
  prune?: boolean;
  dryRun?: boolean;
  allowUnsigned?: boolean;
  acceptKey?: boolean;
  /** Rebuild from an archive made by `syncer mirror` (local path or URL) instead of the remotes. */
  fromMirror?: string;
}

export async function reindex(rt: Runtime, options: ReindexOptions): Promise<ReindexResult> {
  const transports = rt.config.allowedTransports;
  const explicit = checkInputs(rt, options, transports);
  const dryRun = !!options.dryRun;
  const registry = await rt.registry({ writes: !dryRun });
  const registered = await readRegistered(registry);
  const { results, skipped } = await readSources(rt, options, explicit, registered);
  const { inputs, trusts, remotes } = gatherReads(rt, results, skipped);
  const snapshot = await readRegistrySnapshot(rt, registry, inputs);
  if (options.fromMirror) keepMissing(registry.keys, snapshot, inputs);
  const plan = planReindex({ keys: registry.keys, snapshot, operators: inputs, prune: !!options.prune && !options.fromMirror, transports });
  skipped.push(...plan.skipped);
  if (!dryRun) await writeSeals(registry, trusts);
  const written = dryRun ? asPlanned(plan) : await writePlan(rt, registry, plan, trusts);
  return resultOf(plan, written, { keys: registry.keys, dryRun, fromMirror: !!options.fromMirror, skipped, remotes });
}

/**
 * The remotes named by --remote and --remotes-file. Every input is checked before anything is
 * read: a bad flag is exit 2 with nothing done.
 */
function checkInputs(rt: Runtime, options: ReindexOptions, transports: readonly string[]): RemoteTarget[] {
  const flagged = parseRemoteFlags(options.remotes, transports, rt.deps.cwd);
  const listed = options.remotesFile ? readRemotesFile(resolve(rt.deps.cwd, options.remotesFile), transports) : [];
  const explicit = mergeExplicit([...flagged, ...listed]);
  if (options.fromMirror && explicit.length) throw usageError('--from-mirror reads only the archive: drop --remote / --remotes-file');
  if (options.fromMirror && options.prune) throw usageError('--from-mirror only adds what is missing: --prune does not apply');
  return explicit;
}

async function readRegistered(registry: Registry): Promise<Registered> {
  const prefix = registry.keys.operatorsPrefix;
  const operators = [...(await readOperators(registry))].map(([key, e]) => parseRegistered(key, key.slice(prefix.length), e.raw));
  return { operators, records: new Map(operators.filter((r) => r.record).map((r) => [r.operator, r.record!])) };
}

async function readRegistrySnapshot(rt: Runtime, registry: Registry, inputs: OperatorInput[]): Promise<Snapshot> {
  const t0 = Date.now();
  const snapshot = await readSnapshot(registry, new Set(inputs.map((i) => i.operator)));
  rt.out.debug(`read the registry (${snapshot.datasets.size} advertisements, ${snapshot.markers.size} markers) in ${Date.now() - t0} ms`);
  return snapshot;
}

/** Restoring from an archive only fills what is missing: entries present are left as they are. */
function keepMissing(k: Keys, snapshot: Snapshot, inputs: OperatorInput[]): void {
  for (const input of inputs) input.ads = input.ads.filter(({ ad }) => !snapshot.datasets.has(k.dataset(ad)));
}

/** The seals (pages) of retired keys the registry lacks, before the records that name them. */
async function writeSeals(registry: Registry, trusts: Map<string, Trust>): Promise<void> {
  for (const [operator, t] of trusts) if (t.ok) await writeMissingSeals(registry, operator, t.retired);
}

/** A dry run counts what it would write as written. */
function asPlanned(plan: Plan): CommitResult {
  return { applied: plan.units, conflicts: [], transactions: plan.txns.length };
}

async function writePlan(rt: Runtime, registry: Registry, plan: Plan, trusts: Map<string, Trust>): Promise<CommitResult> {
  // Keys are pinned only by a run that writes: a dry run changes nothing, here either.
  pinKeys(rt, trusts);
  const t0 = Date.now();
  const written = await commitPlan(registry, plan.txns, rt.deps.signal);
  rt.out.debug(`wrote ${plan.txns.length} transaction(s) in ${Date.now() - t0} ms`);
  return written;
}

function pinKeys(rt: Runtime, trusts: Map<string, Trust>): void {
  for (const [operator, t] of trusts) {
    if (!t.ok || t.pin === 'pinned') continue;
    rt.keystore.pin(rt.trustScope, operator, t.publicKey, rt.now(), pinSourceOf(t.pin));
    if (t.pin === 'rotated') rt.out.info(`following the signed key rotation of ${operator}: now ${fingerprint(t.publicKey)}`);
    if (t.pin === 'accepted') rt.out.warn(`accepted a changed key for ${operator} (--accept-key): now ${fingerprint(t.publicKey)}`);
  }
}

export async function run(rt: Runtime, options: ReindexOptions): Promise<void> {
  const r = await reindex(rt, options);
  warn(rt, r, !!options.prune);
  rt.out.result(r, () => render(r, !!options.prune));
  failIfUnread(r);
}
