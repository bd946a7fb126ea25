/**
 * The registry key layout: every key syncer reads or writes in etcd is built here. Pure: no I/O.
 *
 *   <ns>datasets/<hub>/<date>/<operator>   advertisement JSON
 *   <ns>inprogress/<hub>/<date>/<operator> a running sync (lease-bound)
 *   <ns>operators/<operator>               operator record
 *   <ns>index/dates/<hub>/<date>           empty marker: "hub has an advertisement on date"
 *   <ns>watch/groups/<group>/position      a watch group's position {revision, cluster, seen}
 *   <ns>watch/groups/<group>/known/datasets/<hub>/<date>/<operator>
 *                                          what the group knew of that advertisement {rev, commit, at}
 *   <ns>election/watch-group-<group>/<lease>   a watch group's candidates (the etcd client's election layout)
 *
 * The index markers are written in the same transaction as each advertisement so that listing
 * hubs and dates never scans the advertisements themselves.
 */
import { isDate, isName } from './names.js';

export interface DatasetId {
  hub: string;
  date: string;
  operator: string;
}

export function normalizeNamespace(ns: string): string {
  return ns.endsWith('/') ? ns : `${ns}/`;
}

/** The keys of one watch group's state (see the layout above). */
function watchGroupKeys(n: string, group: string) {
  const base = `${n}watch/groups/${group}/`;
  const knownPrefix = `${base}known/`;
  return {
    /** The name of the group's election, under `<ns>` (the etcd client's election adds `election/<name>/`). */
    election: `watch-group-${group}`,
    position: `${base}position`,
    knownPrefix,
    /** Where the group keeps what it knew of an advertisement key (stored without the namespace). */
    known: (datasetKey: string) => knownPrefix + (datasetKey.startsWith(n) ? datasetKey.slice(n.length) : datasetKey),
    /** The advertisement key a `known` key stands for. */
    datasetKeyOf: (knownKey: string) => n + knownKey.slice(knownPrefix.length),
  };
}

export const keys = (ns: string) => {
  const n = normalizeNamespace(ns);
  return {
    namespace: n,
    datasetsPrefix: `${n}datasets/`,
    hubDatasetsPrefix: (hub: string) => `${n}datasets/${hub}/`,
    dateDatasetsPrefix: (hub: string, date: string) => `${n}datasets/${hub}/${date}/`,
    dataset: (id: DatasetId) => `${n}datasets/${id.hub}/${id.date}/${id.operator}`,
    inProgressPrefix: `${n}inprogress/`,
    /** The in-progress markers of every hub, of one hub, or of one hub and date. */
    inProgressUnder: (hub?: string, date?: string) => `${n}inprogress/${hub ? `${hub}/` : ''}${hub && date ? `${date}/` : ''}`,
    inProgress: (id: DatasetId) => `${n}inprogress/${id.hub}/${id.date}/${id.operator}`,
    operatorsPrefix: `${n}operators/`,
    operator: (operator: string) => `${n}operators/${operator}`,
    dateIndexPrefix: `${n}index/dates/`,
    hubDateIndexPrefix: (hub: string) => `${n}index/dates/${hub}/`,
    dateIndex: (hub: string, date: string) => `${n}index/dates/${hub}/${date}`,
    watchGroup: (group: string) => watchGroupKeys(n, group),
  };
};

export type Keys = ReturnType<typeof keys>;

/** Parse `<prefix>hub/date/operator`; undefined when the key is not well formed. */
export function parseDatasetKey(k: Keys, key: string): DatasetId | undefined {
  if (!key.startsWith(k.datasetsPrefix)) return undefined;
  const parts = key.slice(k.datasetsPrefix.length).split('/');
  if (parts.length !== 3) return undefined;
  const [hub, date, operator] = parts as [string, string, string];
  if (!isName(hub) || !isDate(date) || !isName(operator)) return undefined;
  return { hub, date, operator };
}

/** Parse `<ns>inprogress/hub/date/operator` like the advertisement key of the same dataset. */
export function parseInProgressKey(k: Keys, key: string): DatasetId | undefined {
  if (!key.startsWith(k.inProgressPrefix)) return undefined;
  return parseDatasetKey(k, k.datasetsPrefix + key.slice(k.inProgressPrefix.length));
}

/** Parse `<prefix>hub/date` of the date index. */
export function parseDateIndexKey(k: Keys, key: string): { hub: string; date: string } | undefined {
  if (!key.startsWith(k.dateIndexPrefix)) return undefined;
  const parts = key.slice(k.dateIndexPrefix.length).split('/');
  if (parts.length !== 2) return undefined;
  const [hub, date] = parts as [string, string];
  if (!isName(hub) || !isDate(date)) return undefined;
  return { hub, date };
}

/** Hubs and operators a reader follows (empty: all). */
export interface Filter {
  hubs: string[];
  operators: string[];
}

export const matchesFilter = (f: Filter, id: { hub: string; operator: string }) =>
  (f.hubs.length === 0 || f.hubs.includes(id.hub)) && (f.operators.length === 0 || f.operators.includes(id.operator));

export const tagName = (hub: string, date: string) => `syncer/${hub}/${date}`;

/** The exclusive end of the key range holding every key that starts with `prefix`. */
export function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    if (b[i]! < 0xff) {
      const end = Buffer.from(b.subarray(0, i + 1));
      end[i]! += 1;
      return end;
    }
  }
  return Buffer.from([0]);
}

/**
 * Seals of retired keys too large for the operator record, in pages (a rotation names its seal by
 * the sha256 of the seal's canonical JSON):
 *
 *   <ns>seals/<operator>/<digest>/<page>   JSON object "<hub>/<date>" -> 20 hex of a commit (page: 6 digits)
 */
export const sealKeys = (ns: string) => {
  const n = normalizeNamespace(ns);
  const prefix = (operator: string, digest: string) => `${n}seals/${operator}/${digest}/`;
  return { prefix, page: (operator: string, digest: string, i: number) => `${prefix(operator, digest)}${String(i).padStart(6, '0')}` };
};

// Hub charters and votes (issue 13).
//   <ns>hubs/<hub>/charter/<version>   a charter version (8 digits, zero-padded), create-only
//   <ns>hubs/<hub>/proposal            the proposed next version, gathering maintainers' signatures
//   <ns>votes/<hub>/<date>/<operator>/<voter>   a validator's (or anyone's) signed verdict

/** The keys of hub charters and votes. */
export function hubKeys(ns: string) {
  const n = normalizeNamespace(ns);
  return {
    chartersPrefix: (hub: string) => `${n}hubs/${hub}/charter/`,
    charter: (hub: string, version: number) => `${n}hubs/${hub}/charter/${String(version).padStart(8, '0')}`,
    proposal: (hub: string) => `${n}hubs/${hub}/proposal`,
    /** Votes about a hub, one of its dates, or one advertisement. */
    votesUnder: (hub: string, date?: string, operator?: string) => `${n}votes/${hub}/${date ? `${date}/` : ''}${date && operator ? `${operator}/` : ''}`,
    vote: (id: DatasetId, voter: string) => `${n}votes/${id.hub}/${id.date}/${id.operator}/${voter}`,
  };
}

/** The version of `<ns>hubs/<hub>/charter/<version>`, or undefined when the key is not one. */
export function parseCharterKey(ns: string, hub: string, key: string): number | undefined {
  const prefix = hubKeys(ns).chartersPrefix(hub);
  if (!key.startsWith(prefix)) return undefined;
  const rest = key.slice(prefix.length);
  return /^\d{8}$/.test(rest) && Number(rest) >= 1 ? Number(rest) : undefined;
}

/** The dataset and voter of `<ns>votes/<hub>/<date>/<operator>/<voter>`, or undefined. */
export function parseVoteKey(ns: string, key: string): (DatasetId & { voter: string }) | undefined {
  const prefix = `${normalizeNamespace(ns)}votes/`;
  if (!key.startsWith(prefix)) return undefined;
  const parts = key.slice(prefix.length).split('/');
  if (parts.length !== 4) return undefined;
  const [hub, date, operator, voter] = parts as [string, string, string, string];
  if (!isName(hub) || !isDate(date) || !isName(operator) || !isName(voter)) return undefined;
  return { hub, date, operator, voter };
}
