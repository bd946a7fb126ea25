/**
 * syncer reindex: rebuild the registry from the operators' git remotes (git is the source of
 * truth; etcd is an index that can be lost). Reads each remote's `syncer/<hub>/<date>` tags without
 * cloning the data, verifies every advertisement (target commit, signature), and writes what is
 * missing or older in compare-and-swap transactions of <= 128 operations. A second run writes
 * nothing. `--prune` removes entries whose tag is gone (only for remotes read completely);
 * `--dry-run` writes nothing. A remote that cannot be read is reported, the others still
 * indexed, and the exit code is 4 at the end.
 */
import { SyncerError, usageError } from '../../errors.js';
import { redactUrl } from '../../core/remote-url.js';
import { resolve } from 'node:path';
import { escapeControl } from '../../core/sanitize.js';
import { fingerprint } from '../../core/signing.js';
import type { DatasetId } from '../../core/keys.js';
import type { OperatorRecord } from '../../core/advertisement.js';
import { pinSourceOf } from '../../adapters/keystore.js';
import { signatureProblem } from '../../core/trust.js';
import type { Runtime } from '../../runtime.js';
import { mergeExplicit, parseRegistered, parseRemoteFlags, readRemotesFile, remotesToRead } from './inputs.js';
import { planReindex, type OperatorInput, type Unit } from './plan.js';
import { readRemote, type RemoteRead } from './read-remote.js';
import { chooseTrust, parseRecordText, verifyTags, type Skip, type Trust } from './verify.js';
import { commitPlan, readOperators, readSnapshot } from './write.js';
import { readMirror } from './read-mirror.js';
import { serializeAdvertisement } from '../../core/advertisement.js';

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

export interface RemoteReport {
  operator: string;
  url: string;
  source: 'flag' | 'file' | 'registry' | 'mirror';
  ok: boolean;
  /** syncer/* tags listed in the remote. */
  tags: number;
  /** Advertisements that verified. */
  verified: number;
  /** Where the key that verified them came from, or why there is none. */
  record?: 'repository' | 'registry';
  recordProblem?: string;
  error?: string;
}

export interface ReindexResult {
  dryRun: boolean;
  added: number;
  updated: number;
  unchanged: number;
  pruned: number;
  stale: DatasetId[];
  skipped: Skip[];
  operators: { added: string[]; unchanged: string[]; differs: string[] };
  markers: { added: number; removed: number };
  remotes: RemoteReport[];
  changes: { added: string[]; updated: string[]; pruned: string[] };
  transactions: number;
}

/** Read remotes a few at a time (network bound), results in input order. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Remotes read at once: git over a network mostly waits, so more than the cores. */
const REMOTES_IN_FLIGHT = 8;

function verifyRead(rt: Runtime, read: RemoteRead, registryRecords: Map<string, OperatorRecord>, options: ReindexOptions) {
  const operator = read.target.operator;
  const repo = read.record.text !== undefined ? parseRecordText(read.record.text, operator) : { ok: false as const, problem: read.record.problem ?? 'no operator record' };
  const trust = chooseTrust({
    operator,
    repoRecord: repo.ok ? repo.record : undefined,
    registryRecord: registryRecords.get(operator),
    pinned: rt.keystore.pinned(rt.trustScope, operator),
    acceptKey: !!options.acceptKey,
  });
  const verified = verifyTags({ operator, tags: read.tags, trust, allowUnsigned: !!options.allowUnsigned, transports: rt.config.allowedTransports });
  if (read.target.source === 'mirror') {
    // Restored entries point at the archive; the signature does not cover the remote.
    verified.ads = verified.ads.map(({ ad }) => {
      const moved = { ...ad, remote: read.target.url };
      return { ad: moved, value: serializeAdvertisement(moved) };
    });
  }
  const input: OperatorInput = {
    operator,
    complete: true,
    ads: verified.ads,
    present: verified.present,
    // Only a record whose key we accept is written back (create-only).
    record: repo.ok && trust.ok && trust.source === 'repository' ? repo.value : undefined,
    genuine: (ad) => trust.ok && signatureProblem(ad, trust.publicKey, trust.retired) === undefined,
  };
  return { input, trust, verified, recordProblem: repo.ok ? undefined : repo.problem };
}

function pinKeys(rt: Runtime, trusts: Map<string, Trust>): void {
  for (const [operator, t] of trusts) {
    if (!t.ok || t.pin === 'pinned') continue;
    rt.keystore.pin(rt.trustScope, operator, t.publicKey, rt.now(), pinSourceOf(t.pin));
    if (t.pin === 'rotated') rt.out.info(`following the signed key rotation of ${operator}: now ${fingerprint(t.publicKey)}`);
    if (t.pin === 'accepted') rt.out.warn(`accepted a changed key for ${operator} (--accept-key): now ${fingerprint(t.publicKey)}`);
  }
}

export async function reindex(rt: Runtime, options: ReindexOptions): Promise<ReindexResult> {
  const transports = rt.config.allowedTransports;
  // Every input is checked before anything is read: a bad flag is exit 2 with nothing done.
  const explicit = mergeExplicit([...parseRemoteFlags(options.remotes, transports, rt.deps.cwd), ...(options.remotesFile ? readRemotesFile(resolve(rt.deps.cwd, options.remotesFile), transports) : [])]);
  if (options.fromMirror && explicit.length) throw usageError('--from-mirror reads only the archive: drop --remote / --remotes-file');
  if (options.fromMirror && options.prune) throw usageError('--from-mirror only adds what is missing: --prune does not apply');
  const dryRun = !!options.dryRun;
  const registry = await rt.registry({ writes: !dryRun });
  const k = registry.keys;
  const registered = [...(await readOperators(registry))].map(([key, e]) => parseRegistered(key, key.slice(k.operatorsPrefix.length), e.raw));
  const registryRecords = new Map(registered.filter((r) => r.record).map((r) => [r.operator, r.record!]));
  let results: { read: RemoteRead; v?: ReturnType<typeof verifyRead> }[];
  let skipped: Skip[] = [];
  const started = Date.now();
  if (options.fromMirror) {
    const { url, reads } = await readMirror(rt, options.fromMirror);
    if (reads.length === 0) throw usageError(`no archived datasets in ${redactUrl(url)}`, 'is it an archive made by syncer mirror?');
    rt.out.info(`reading the archive ${redactUrl(url)}: ${reads.length} operator(s)${dryRun ? ' (dry run: nothing will be written)' : ''}`);
    results = reads.map((read) => ({ read, v: verifyRead(rt, read, registryRecords, options) }));
  } else {
    const chosen = remotesToRead(explicit, registered, transports);
    const targets = chosen.targets;
    skipped = chosen.skipped;
    if (targets.length === 0) {
      throw usageError('no remotes to read: the registry has no usable operator records and none were given', 'pass --remote OPERATOR=URL (repeatable) or --remotes-file FILE');
    }
    rt.out.info(`reading ${targets.length} remote(s)${dryRun ? ' (dry run: nothing will be written)' : ''}`);
    // Each remote is verified as soon as it is read: the CPU work overlaps the other remotes' git.
    results = await pool(targets, REMOTES_IN_FLIGHT, async (t) => {
      const t0 = Date.now();
      const read = await readRemote(rt, t);
      const v = read.ok ? verifyRead(rt, read, registryRecords, options) : undefined;
      rt.out.debug(`read the remote of ${t.operator} in ${Date.now() - t0} ms: ${read.ok ? `${read.tags.length} tags, ${v!.verified.ads.length} verified` : 'failed'}`);
      return { read, v };
    });
  }
  rt.out.debug(`read and verified ${results.length} source(s) in ${Date.now() - started} ms`);

  const inputs: OperatorInput[] = [];
  const trusts = new Map<string, Trust>();
  const remotes: RemoteReport[] = [];
  for (const { read, v } of results) {
    const { operator, url, source } = read.target;
    if (!v) {
      remotes.push({ operator, url: redactUrl(url), source, ok: false, tags: 0, verified: 0, error: read.error });
      continue;
    }
    inputs.push(v.input);
    trusts.set(operator, v.trust);
    skipped.push(...v.verified.skipped);
    for (const id of v.verified.unsigned) rt.out.warn(`${id} is not signed; accepted because of --allow-unsigned`);
    remotes.push({
      operator, url: redactUrl(url), source, ok: true, tags: read.tags.length, verified: v.verified.ads.length,
      record: v.trust.ok ? v.trust.source : undefined,
      recordProblem: v.recordProblem ?? (v.trust.ok ? undefined : v.trust.problem),
    });
  }

  let t0 = Date.now();
  const snapshot = await readSnapshot(registry, new Set(inputs.map((i) => i.operator)));
  rt.out.debug(`read the registry (${snapshot.datasets.size} advertisements, ${snapshot.markers.size} markers) in ${Date.now() - t0} ms`);
  if (options.fromMirror) {
    // Restoring from an archive only fills what is missing: entries present are left as they are.
    for (const input of inputs) input.ads = input.ads.filter(({ ad }) => !snapshot.datasets.has(k.dataset(ad)));
  }
  const plan = planReindex({ keys: k, snapshot, operators: inputs, prune: !!options.prune && !options.fromMirror, transports });
  skipped.push(...plan.skipped);

  let conflicts: Unit[] = [];
  let applied: Unit[] = plan.units;
  let transactions = 0;
  if (!dryRun) {
    pinKeys(rt, trusts);
    t0 = Date.now();
    const res = await commitPlan(registry, plan.txns, rt.deps.signal);
    rt.out.debug(`wrote ${plan.txns.length} transaction(s) in ${Date.now() - t0} ms`);
    conflicts = res.conflicts;
    applied = res.applied;
    transactions = res.transactions;
  }
  const lost = new Set(conflicts.flatMap((u) => u.ids));
  for (const u of conflicts) {
    for (const id of u.ids) skipped.push({ key: u.kind === 'record' ? k.operator(id) : k.dataset(idOf(id)), reason: 'changed in the registry while reindex ran: left alone' });
  }
  const kept = (ids: string[]) => ids.filter((id) => !lost.has(id));
  const changes = { added: kept(plan.added), updated: kept(plan.updated), pruned: kept(plan.pruned) };
  const result: ReindexResult = {
    dryRun,
    added: changes.added.length,
    updated: changes.updated.length,
    unchanged: plan.unchanged,
    pruned: changes.pruned.length,
    stale: options.fromMirror ? [] : plan.stale,
    skipped,
    operators: { added: kept(plan.records.added), unchanged: plan.records.unchanged, differs: plan.records.differs },
    markers: {
      added: new Set(applied.flatMap((u) => u.markers)).size,
      removed: applied.flatMap((u) => u.ops).filter((o) => 'delete' in o && o.delete.startsWith(k.dateIndexPrefix)).length,
    },
    remotes,
    changes,
    transactions: dryRun ? plan.txns.length : transactions,
  };
  return result;
}

const idOf = (text: string): DatasetId => {
  const [hub, date, operator] = text.split('/') as [string, string, string];
  return { hub, date, operator };
};

function render(r: ReindexResult, prune: boolean): string {
  const would = r.dryRun ? 'would be ' : '';
  const failed = r.remotes.filter((x) => !x.ok);
  const tags = r.remotes.reduce((n, x) => n + x.tags, 0);
  const verified = r.remotes.reduce((n, x) => n + x.verified, 0);
  const lines = [
    ...(r.dryRun ? ['dry run: nothing was written'] : []),
    `remotes     ${r.remotes.length - failed.length} read${failed.length ? `, ${failed.length} failed (${failed.map((f) => f.operator).join(', ')})` : ''}`,
    `tags        ${tags} (${verified} verified)`,
    `datasets    ${r.added} ${would}added, ${r.updated} ${would}updated, ${r.unchanged} unchanged, ` +
      (prune ? `${r.pruned} ${would}pruned` : `${r.stale.length} stale${r.stale.length ? ' (--prune removes them)' : ''}`),
    `operators   ${r.operators.added.length} ${would}added, ${r.operators.unchanged.length} unchanged${r.operators.differs.length ? `, ${r.operators.differs.length} differ from the repository (left alone)` : ''}`,
    `skipped     ${r.skipped.length}${r.skipped.length ? ' (reasons on stderr; --json lists them)' : ''}`,
  ];
  if (r.dryRun) {
    for (const id of r.changes.added) lines.push(`  add     ${id}`);
    for (const id of r.changes.updated) lines.push(`  update  ${id}`);
    for (const id of r.changes.pruned) lines.push(`  prune   ${id}`);
    for (const op of r.operators.added) lines.push(`  add     operator ${op}`);
  }
  return lines.map(escapeControl).join('\n');
}

export async function run(rt: Runtime, options: ReindexOptions): Promise<void> {
  const r = await reindex(rt, options);
  for (const s of r.skipped) rt.out.warn(`skipped ${escapeControl(s.tag ? `tag ${s.tag}` : s.key ?? '')}${s.operator ? ` of ${s.operator}` : ''}: ${escapeControl(s.reason)}`);
  for (const x of r.remotes) {
    if (!x.ok) rt.out.warn(`could not read the remote of ${x.operator}: ${escapeControl(x.error ?? '')}`);
    else if (x.recordProblem) rt.out.warn(`operator record of ${x.operator}: ${escapeControl(x.recordProblem)}`);
  }
  if (!options.prune) for (const id of r.stale) rt.out.info(`stale: ${id.hub}/${id.date}/${id.operator} (its tag is gone from the remote; --prune removes it)`);
  rt.out.result(r, () => render(r, !!options.prune));
  const failed = r.remotes.filter((x) => !x.ok);
  if (failed.length) {
    throw new SyncerError('REMOTE', `${failed.length} of ${r.remotes.length} remote(s) could not be read (${failed.map((f) => f.operator).join(', ')}); the others were ${r.dryRun ? 'planned' : 'indexed'}`, {
      hint: 'fix the remote (or its URL) and run syncer reindex again: it only writes what is missing',
    });
  }
}
