/**
 * The registry side of reindex: read the snapshot the plan compares against, and commit the
 * planned transactions. A transaction whose compare fails (something changed since the snapshot:
 * a sync ran meanwhile) is retried unit by unit, so only the units that really conflict are left
 * out, and reported; nothing is ever overwritten without its compare holding.
 */
import { interrupted } from '../../errors.js';
import { parseDatasetKey } from '../../core/keys.js';
import type { Registry } from '../../adapters/registry.js';
import { txnOf, type RegistryEntry, type Snapshot, type Txn, type Unit } from './plan.js';

/** Raw `<ns>operators/*` entries (parsed by the caller: registry values are untrusted). */
export async function readOperators(registry: Registry): Promise<Map<string, RegistryEntry & { raw: Buffer }>> {
  const out = new Map<string, RegistryEntry & { raw: Buffer }>();
  for await (const kv of registry.scanOperators()) {
    out.set(kv.key, { value: kv.value.toString(), modRevision: kv.modRevision, raw: kv.value });
  }
  return out;
}

/** Datasets (values only of the operators being reindexed), index markers and operator records. */
export async function readSnapshot(registry: Registry, inScope: Set<string>): Promise<Snapshot> {
  const k = registry.keys;
  const datasets = new Map<string, RegistryEntry>();
  for await (const kv of registry.scanDatasets()) {
    const id = parseDatasetKey(k, kv.key);
    if (!id) continue; // not ours to judge: left alone
    datasets.set(kv.key, { value: inScope.has(id.operator) ? kv.value.toString() : undefined, modRevision: kv.modRevision });
  }
  const markers = new Map<string, string>();
  for await (const kv of registry.scanDateIndex()) markers.set(kv.key, kv.modRevision);
  const operators = new Map<string, RegistryEntry>();
  for (const [key, e] of await readOperators(registry)) operators.set(key, { value: e.value, modRevision: e.modRevision });
  return { datasets, markers, operators };
}

async function execute(registry: Registry, txn: Txn): Promise<boolean> {
  return registry.writeBatch(`reindex transaction (${txn.ops.length} operations)`, txn);
}

/**
 * Whether the registry already holds what the unit would write (a retried call that did commit,
 * or someone else wrote the same value); then its missing index markers are put too.
 */
async function alreadyApplied(registry: Registry, unit: Unit): Promise<boolean> {
  for (const op of unit.ops) {
    const kv = await registry.readEntry('put' in op ? op.put : op.delete);
    if ('put' in op ? kv?.value.toString() !== op.value : kv !== undefined) return false;
  }
  const missing: string[] = [];
  for (const m of unit.markers) if (!(await registry.readEntry(m))) missing.push(m);
  if (missing.length) await execute(registry, txnOf([{ ...unit, compares: [], ops: [], markers: missing }]));
  return true;
}

export interface CommitResult {
  applied: Unit[];
  conflicts: Unit[];
  transactions: number;
}

export async function commitPlan(registry: Registry, txns: Txn[], signal: AbortSignal): Promise<CommitResult> {
  const result: CommitResult = { applied: [], conflicts: [], transactions: 0 };
  for (const txn of txns) {
    // Between transactions only: each one is atomic, so nothing is ever half-written.
    if (signal.aborted) throw interrupted();
    result.transactions++;
    if (await execute(registry, txn)) {
      result.applied.push(...txn.units);
      continue;
    }
    for (const unit of txn.units) {
      if (signal.aborted) throw interrupted();
      result.transactions++;
      if ((await execute(registry, txnOf([unit]))) || (await alreadyApplied(registry, unit))) result.applied.push(unit);
      else result.conflicts.push(unit);
    }
  }
  return result;
}
