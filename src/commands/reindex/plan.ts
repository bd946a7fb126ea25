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

export function planReindex(input: PlanInput): Plan {
  const { keys: k, snapshot, prune, transports } = input;
  const maxOps = input.limits?.maxOps ?? MAX_TXN_OPS;
  const plan: Plan = {
    added: [], updated: [], unchanged: 0, stale: [], pruned: [], skipped: [],
    records: { added: [], unchanged: [], differs: [] }, markers: { added: [], removed: [] }, units: [], txns: [],
  };
  const recordUnits: Unit[] = [];
  const adUnits: Unit[] = [];
  const markerOnly = new Set<string>();
  const prunable: DatasetId[] = [];
  const markerNeeded = (hub: string, date: string) => {
    const m = k.dateIndex(hub, date);
    return snapshot.markers.has(m) ? [] : [m];
  };

  // Registry keys per operator, and which datasets each hub/date will hold after this plan.
  const byOperator = new Map<string, DatasetId[]>();
  const atHubDate = new Map<string, Set<string>>();
  for (const key of snapshot.datasets.keys()) {
    const id = parseDatasetKey(k, key);
    if (!id) continue;
    const list = byOperator.get(id.operator) ?? [];
    list.push(id);
    byOperator.set(id.operator, list);
    const hd = `${id.hub}/${id.date}`;
    (atHubDate.get(hd) ?? atHubDate.set(hd, new Set()).get(hd)!).add(id.operator);
  }

  for (const op of input.operators) {
    if (op.record !== undefined) {
      const key = k.operator(op.operator);
      const current = snapshot.operators.get(key);
      if (!current) {
        plan.records.added.push(op.operator);
        recordUnits.push({ kind: 'record', ids: [op.operator], compares: [{ key, version: 0 }], ops: [{ put: key, value: op.record }], markers: [] });
      } else if (current.value === op.record) plan.records.unchanged.push(op.operator);
      else plan.records.differs.push(op.operator);
    }

    for (const { ad, value } of op.ads) {
      const id = { hub: ad.hub, date: ad.date, operator: ad.operator };
      const key = k.dataset(id);
      const markers = markerNeeded(ad.hub, ad.date);
      const current = snapshot.datasets.get(key);
      if (!current) {
        plan.added.push(idText(id));
        adUnits.push({ kind: 'add', ids: [idText(id)], compares: [{ key, version: 0 }], ops: [{ put: key, value }], markers });
        const hd = `${ad.hub}/${ad.date}`;
        (atHubDate.get(hd) ?? atHubDate.set(hd, new Set()).get(hd)!).add(ad.operator);
        continue;
      }
      if (current.value === value) {
        plan.unchanged++;
        for (const m of markers) markerOnly.add(m);
        continue;
      }
      const existing = current.value === undefined ? undefined : parseAdvertisement(current.value, { expect: id, transports });
      if (existing?.ok && isNewer(existing.ad, ad) && (op.genuine?.(existing.ad) ?? true)) {
        plan.skipped.push({ operator: ad.operator, key, reason: `the registry holds a newer advertisement (synced at ${existing.ad.syncedAt}; the tag's is from ${ad.syncedAt}): left alone` });
        for (const m of markers) markerOnly.add(m);
        continue;
      }
      plan.updated.push(idText(id));
      adUnits.push({ kind: 'update', ids: [idText(id)], compares: [{ key, modRevision: current.modRevision }], ops: [{ put: key, value }], markers });
    }

    if (op.complete) {
      const present = new Set(op.present);
      const stale = (byOperator.get(op.operator) ?? []).filter((id) => !present.has(`${id.hub}/${id.date}`));
      plan.stale.push(...stale);
      // A remote without a single syncer tag is more likely a wrong URL than an operator who
      // deleted everything: its entries are reported, never pruned.
      if (prune && stale.length && present.size === 0) {
        plan.skipped.push({ operator: op.operator, reason: `its remote has no syncer/<hub>/<date> tags at all (a wrong URL?): its ${stale.length} stale entries are not pruned` });
      } else prunable.push(...stale);
    }
  }

  // Unchanged or kept advertisements whose marker is missing: the marker alone, once each.
  const carried = new Set(adUnits.flatMap((u) => u.markers));
  const markerUnits: Unit[] = [...markerOnly]
    .filter((m) => !carried.has(m))
    .map((m) => ({ kind: 'marker', ids: [], compares: [], ops: [], markers: [m] }));

  // Prune: one unit per hub/date (its deletes together), with the marker when nothing else stays.
  const pruneUnits: Unit[] = [];
  if (prune && prunable.length) {
    const groups = new Map<string, DatasetId[]>();
    for (const id of prunable) {
      const hd = `${id.hub}/${id.date}`;
      (groups.get(hd) ?? groups.set(hd, []).get(hd)!).push(id);
    }
    for (const [hd, ids] of groups) {
      const remaining = new Set(atHubDate.get(hd));
      for (const id of ids) remaining.delete(id.operator);
      const [hub, date] = hd.split('/') as [string, string];
      const marker = k.dateIndex(hub, date);
      const markerRev = snapshot.markers.get(marker);
      const dropMarker = remaining.size === 0 && markerRev !== undefined && ids.length + 1 <= maxOps;
      for (let i = 0; i < ids.length; i += maxOps - 1) {
        const chunk = ids.slice(i, i + maxOps - 1);
        const unit: Unit = {
          kind: 'prune',
          ids: chunk.map(idText),
          compares: chunk.map((id) => ({ key: k.dataset(id), modRevision: snapshot.datasets.get(k.dataset(id))!.modRevision })),
          ops: chunk.map((id) => ({ delete: k.dataset(id) })),
          markers: [],
        };
        if (dropMarker) {
          unit.compares.push({ key: marker, modRevision: markerRev! });
          unit.ops.push({ delete: marker });
          plan.markers.removed.push(marker);
        }
        pruneUnits.push(unit);
      }
      plan.pruned.push(...ids.map(idText));
    }
  }

  const byKey = (a: Unit, b: Unit) => (a.ids[0]! < b.ids[0]! ? -1 : a.ids[0]! > b.ids[0]! ? 1 : 0);
  // Operator records first (readers need them to verify what follows); ads grouped by hub/date.
  plan.units = [...recordUnits, ...adUnits.sort(byKey), ...markerUnits, ...pruneUnits];
  plan.markers.added = [...new Set(plan.units.flatMap((u) => u.markers))];
  plan.txns = pack(plan.units, maxOps, input.limits?.maxBytes ?? MAX_TXN_BYTES);
  return plan;
}
