/**
 * The pure planning of reindex: given the verified advertisements read from each operator's remote
 * and a snapshot of the registry, what to add, update, leave alone, report as stale or prune, and
 * the compare-and-swap transactions that do it (each <= 128 operations and <= 1 MiB). No I/O.
 *
 * Every write is conditional on the snapshot: an added key must still be absent (version 0), an
 * updated or pruned one must still have the mod revision that was read, so a sync running at the
 * same time is never overwritten. An advertisement travels with its index marker.
 */
import { isNewer, parseAdvertisement, type Advertisement } from '../../core/advertisement.js';
import { parseDatasetKey, type DatasetId, type Keys } from '../../core/keys.js';
import type { Skip, VerifiedAd } from './verify.js';

/** etcd's default --max-txn-ops. */
export const MAX_TXN_OPS = 128;
/** Well below etcd's 1.5 MiB request limit. */
export const MAX_TXN_BYTES = 1024 * 1024;

export interface RegistryEntry {
  /** Undefined when not needed (an operator not being reindexed). */
  value?: string;
  modRevision: string;
}

/** What the registry held when reindex read it. */
export interface Snapshot {
  /** Every well-formed `<ns>datasets/<hub>/<date>/<operator>` key. */
  datasets: Map<string, RegistryEntry>;
  /** `<ns>index/dates/<hub>/<date>` -> mod revision. */
  markers: Map<string, string>;
  /** `<ns>operators/<operator>` -> entry. */
  operators: Map<string, RegistryEntry>;
}

export interface OperatorInput {
  operator: string;
  /** The remote's tags were all listed: its registry entries without a tag are stale. */
  complete: boolean;
  ads: VerifiedAd[];
  /** `hub/date` of every tag the remote has, verified or not. */
  present: string[];
  /** The verified operator record from the repository (registry value), created when absent. */
  record?: string;
  /**
   * Whether a registry entry is genuinely the operator's (its signature holds with the key
   * trusted for it): only such an entry may be newer than a tag and left alone; planted junk
   * dated ahead is replaced. Absent: every parsed entry counts (older callers).
   */
  genuine?: (ad: Advertisement) => boolean;
}

export interface PlanInput {
  keys: Keys;
  snapshot: Snapshot;
  operators: OperatorInput[];
  prune: boolean;
  transports: readonly string[];
  limits?: { maxOps?: number; maxBytes?: number };
}

export type Compare = { key: string; version: 0 } | { key: string; modRevision: string };
export type Op = { put: string; value: string } | { delete: string };

/** Writes that must happen together (an advertisement and its compare), or not at all. */
export interface Unit {
  kind: 'add' | 'update' | 'prune' | 'record' | 'marker';
  /** dataset ids (hub/date/operator), or the operator name for a record. */
  ids: string[];
  compares: Compare[];
  ops: Op[];
  /** Index markers this unit needs (put unconditionally, deduplicated within a transaction). */
  markers: string[];
}

export interface Txn {
  units: Unit[];
  compares: Compare[];
  ops: Op[];
}

export interface Plan {
  added: string[];
  updated: string[];
  unchanged: number;
  /** Registry entries of completely read remotes whose tag is gone. */
  stale: DatasetId[];
  /** The stale entries this plan deletes (with --prune; never those of a remote without any syncer tag). */
  pruned: string[];
  skipped: Skip[];
  records: { added: string[]; unchanged: string[]; differs: string[] };
  markers: { added: string[]; removed: string[] };
  units: Unit[];
  txns: Txn[];
}

const idText = (id: DatasetId) => `${id.hub}/${id.date}/${id.operator}`;

const opBytes = (op: Op) => ('put' in op ? op.put.length + op.value.length : op.delete.length) + 16;
const cmpBytes = (c: Compare) => c.key.length + 24;

/** One transaction of these units: their compares, their ops, and each needed marker once. */
export function txnOf(units: Unit[]): Txn {
  const compares: Compare[] = [];
  const ops: Op[] = [];
  const markers = new Set<string>();
  for (const u of units) {
    compares.push(...u.compares);
    ops.push(...u.ops);
    for (const m of u.markers) {
      if (markers.has(m)) continue;
      markers.add(m);
      ops.push({ put: m, value: '' });
    }
  }
  return { units, compares, ops };
}

/** Pack units, in order, into transactions of at most maxOps operations and maxBytes. */
export function pack(units: Unit[], maxOps = MAX_TXN_OPS, maxBytes = MAX_TXN_BYTES): Txn[] {
  const txns: Txn[] = [];
  let current: Unit[] = [];
  let ops = 0;
  let bytes = 0;
  let markers = new Set<string>();
  const flush = () => {
    if (current.length) txns.push(txnOf(current));
    current = [];
    ops = 0;
    bytes = 0;
    markers = new Set();
  };
  const cost = (u: Unit) => {
    const fresh = u.markers.filter((m) => !markers.has(m));
    const n = Math.max(u.ops.length + fresh.length, u.compares.length);
    const b = u.ops.reduce((s, o) => s + opBytes(o), 0) + u.compares.reduce((s, c) => s + cmpBytes(c), 0) + fresh.reduce((s, m) => s + m.length + 16, 0);
    return { n, b, fresh };
  };
  for (const u of units) {
    let c = cost(u);
    if (current.length && (ops + c.n > maxOps || bytes + c.b > maxBytes)) {
      flush();
      c = cost(u);
    }
    if (c.n > maxOps) throw new Error(`internal: a unit of ${c.n} operations does not fit a transaction`);
    current.push(u);
    ops += c.n;
    bytes += c.b;
    for (const m of c.fresh) markers.add(m);
  }
  flush();
  return txns;
}

/** The registry's datasets, grouped the ways the plan looks them up. */
interface RegistryIndex {
  /** The datasets each operator has in the registry. */
  byOperator: Map<string, DatasetId[]>;
  /** `hub/date` -> the operators holding a dataset there once this plan is written (its adds included). */
  atHubDate: Map<string, Set<string>>;
}

/** The plan being built. Units are kept apart by kind until the last step, which decides their order. */
interface Draft {
  plan: Plan;
  recordUnits: Unit[];
  adUnits: Unit[];
  /** Markers of advertisements that are not written (unchanged, or newer in the registry) but still need them. */
  markerOnly: Set<string>;
  /** Stale entries --prune may delete. */
  prunable: DatasetId[];
}

export function planReindex(input: PlanInput): Plan {
  const maxOps = input.limits?.maxOps ?? MAX_TXN_OPS;
  const registry = indexRegistry(input.keys, input.snapshot);
  const draft = emptyDraft();
  for (const op of input.operators) {
    planRecord(input, op, draft);
    for (const verified of op.ads) planAd(input, op, verified, draft, registry.atHubDate);
    if (op.complete) planStale(input.prune, op, draft, registry.byOperator);
  }
  const markerUnits = markerOnlyUnits(draft);
  const pruneUnits = input.prune ? planPrune(input, draft, registry.atHubDate, maxOps) : [];
  return orderAndPack(draft, markerUnits, pruneUnits, maxOps, input.limits?.maxBytes ?? MAX_TXN_BYTES);
}

function emptyDraft(): Draft {
  const plan: Plan = {
    added: [],
    updated: [],
    unchanged: 0,
    stale: [],
    pruned: [],
    skipped: [],
    records: { added: [], unchanged: [], differs: [] },
    markers: { added: [], removed: [] },
    units: [],
    txns: [],
  };
  return { plan, recordUnits: [], adUnits: [], markerOnly: new Set(), prunable: [] };
}

const hubDate = (id: { hub: string; date: string }) => `${id.hub}/${id.date}`;

/** `map`'s value for `key`, made and stored first when there is none. */
function getOrAdd<K, V>(map: Map<K, V>, key: K, make: () => V): V {
  const found = map.get(key);
  if (found !== undefined) return found;
  const made = make();
  map.set(key, made);
  return made;
}

function indexRegistry(k: Keys, snapshot: Snapshot): RegistryIndex {
  const byOperator = new Map<string, DatasetId[]>();
  const atHubDate = new Map<string, Set<string>>();
  for (const key of snapshot.datasets.keys()) {
    const id = parseDatasetKey(k, key);
    if (!id) continue;
    getOrAdd(byOperator, id.operator, () => []).push(id);
    getOrAdd(atHubDate, hubDate(id), () => new Set()).add(id.operator);
  }
  return { byOperator, atHubDate };
}

/** The operator's record is only ever created: one that differs is reported, never overwritten. */
function planRecord({ keys: k, snapshot }: PlanInput, op: OperatorInput, { plan, recordUnits }: Draft): void {
  if (op.record === undefined) return;
  const key = k.operator(op.operator);
  const current = snapshot.operators.get(key);
  if (!current) {
    plan.records.added.push(op.operator);
    recordUnits.push({ kind: 'record', ids: [op.operator], compares: [{ key, version: 0 }], ops: [{ put: key, value: op.record }], markers: [] });
  } else if (current.value === op.record) plan.records.unchanged.push(op.operator);
  else plan.records.differs.push(op.operator);
}

/** One verified advertisement: added, updated, unchanged, or left alone. */
function planAd(input: PlanInput, op: OperatorInput, { ad, value }: VerifiedAd, draft: Draft, atHubDate: Map<string, Set<string>>): void {
  const id = { hub: ad.hub, date: ad.date, operator: ad.operator };
  const key = input.keys.dataset(id);
  const markers = missingMarkers(input, ad);
  const current = input.snapshot.datasets.get(key);
  if (!current) {
    draft.plan.added.push(idText(id));
    draft.adUnits.push({ kind: 'add', ids: [idText(id)], compares: [{ key, version: 0 }], ops: [{ put: key, value }], markers });
    getOrAdd(atHubDate, hubDate(ad), () => new Set()).add(ad.operator);
    return;
  }
  if (current.value === value) {
    draft.plan.unchanged++;
    for (const m of markers) draft.markerOnly.add(m);
    return;
  }
  const newer = genuineNewer(input.transports, op, current, id, ad);
  if (newer) {
    const reason = `the registry holds a newer advertisement (synced at ${newer.syncedAt}; the tag's is from ${ad.syncedAt}): left alone`;
    draft.plan.skipped.push({ operator: ad.operator, key, reason });
    for (const m of markers) draft.markerOnly.add(m);
    return;
  }
  draft.plan.updated.push(idText(id));
  draft.adUnits.push({ kind: 'update', ids: [idText(id)], compares: [{ key, modRevision: current.modRevision }], ops: [{ put: key, value }], markers });
}

/** An advertisement travels with its date's index marker, unless the registry has it already. */
function missingMarkers({ keys: k, snapshot }: PlanInput, ad: { hub: string; date: string }): string[] {
  const m = k.dateIndex(ad.hub, ad.date);
  return snapshot.markers.has(m) ? [] : [m];
}

/**
 * The registry's advertisement when it is newer than the tag's and genuinely the operator's: a sync
 * that ran after the tag was pushed is kept, while planted junk dated ahead is replaced.
 */
function genuineNewer(transports: readonly string[], op: OperatorInput, current: RegistryEntry, id: DatasetId, ad: Advertisement): Advertisement | undefined {
  const existing = current.value === undefined ? undefined : parseAdvertisement(current.value, { expect: id, transports });
  return existing?.ok && isNewer(existing.ad, ad) && (op.genuine?.(existing.ad) ?? true) ? existing.ad : undefined;
}

/** Registry entries of a completely read remote whose tag is gone. */
function planStale(prune: boolean, op: OperatorInput, { plan, prunable }: Draft, byOperator: Map<string, DatasetId[]>): void {
  const present = new Set(op.present);
  const stale = (byOperator.get(op.operator) ?? []).filter((id) => !present.has(hubDate(id)));
  plan.stale.push(...stale);
  // A remote without a single syncer tag is more likely a wrong URL than an operator who
  // deleted everything: its entries are reported, never pruned.
  if (prune && stale.length && present.size === 0) {
    plan.skipped.push({
      operator: op.operator,
      reason: `its remote has no syncer/<hub>/<date> tags at all (a wrong URL?): its ${stale.length} stale entries are not pruned`,
    });
  } else prunable.push(...stale);
}

/** A marker an added or updated advertisement carries is not written twice. */
function markerOnlyUnits({ markerOnly, adUnits }: Draft): Unit[] {
  const carried = new Set(adUnits.flatMap((u) => u.markers));
  return [...markerOnly].filter((m) => !carried.has(m)).map((m): Unit => ({ kind: 'marker', ids: [], compares: [], ops: [], markers: [m] }));
}

/** One unit per hub/date, so that its deletes (and its marker's) go together. */
function planPrune(input: PlanInput, { plan, prunable }: Draft, atHubDate: Map<string, Set<string>>, maxOps: number): Unit[] {
  const groups = new Map<string, DatasetId[]>();
  for (const id of prunable) getOrAdd(groups, hubDate(id), () => []).push(id);
  const units: Unit[] = [];
  for (const [hd, ids] of groups) {
    units.push(...pruneHubDate(input, hd, ids, atHubDate.get(hd), maxOps, plan));
    plan.pruned.push(...ids.map(idText));
  }
  return units;
}

/**
 * The deletes of one hub/date. Its index marker says "this hub has an advertisement on this date",
 * so it goes too, in the same transaction, when none stays.
 */
function pruneHubDate(input: PlanInput, hd: string, ids: DatasetId[], holders: Set<string> | undefined, maxOps: number, plan: Plan): Unit[] {
  const remaining = new Set(holders);
  for (const id of ids) remaining.delete(id.operator);
  const [hub, date] = hd.split('/') as [string, string];
  const marker = input.keys.dateIndex(hub, date);
  const markerRev = input.snapshot.markers.get(marker);
  const dropMarker = remaining.size === 0 && markerRev !== undefined && ids.length + 1 <= maxOps;
  const units: Unit[] = [];
  for (let i = 0; i < ids.length; i += maxOps - 1) {
    const unit = deleteUnit(input, ids.slice(i, i + maxOps - 1));
    if (dropMarker) {
      unit.compares.push({ key: marker, modRevision: markerRev! });
      unit.ops.push({ delete: marker });
      plan.markers.removed.push(marker);
    }
    units.push(unit);
  }
  return units;
}

/** Each delete holds only while the entry is as the snapshot read it: a sync meanwhile wins. */
function deleteUnit({ keys: k, snapshot }: PlanInput, ids: DatasetId[]): Unit {
  return {
    kind: 'prune',
    ids: ids.map(idText),
    compares: ids.map((id) => ({ key: k.dataset(id), modRevision: snapshot.datasets.get(k.dataset(id))!.modRevision })),
    ops: ids.map((id) => ({ delete: k.dataset(id) })),
    markers: [],
  };
}

const byFirstId = (a: Unit, b: Unit) => (a.ids[0]! < b.ids[0]! ? -1 : a.ids[0]! > b.ids[0]! ? 1 : 0);

function orderAndPack({ plan, recordUnits, adUnits }: Draft, markerUnits: Unit[], pruneUnits: Unit[], maxOps: number, maxBytes: number): Plan {
  // Operator records first (readers need them to verify what follows); ads grouped by hub/date.
  plan.units = [...recordUnits, ...adUnits.sort(byFirstId), ...markerUnits, ...pruneUnits];
  plan.markers.added = [...new Set(plan.units.flatMap((u) => u.markers))];
  plan.txns = pack(plan.units, maxOps, maxBytes);
  return plan;
}
