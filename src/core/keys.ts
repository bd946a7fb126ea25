/**
 * The registry key layout (SPEC.md "Registry layout"). Pure: no I/O.
 *
 *   <ns>datasets/<hub>/<date>/<operator>   advertisement JSON
 *   <ns>inprogress/<hub>/<date>/<operator> a running sync (lease-bound)
 *   <ns>operators/<operator>               operator record
 *   <ns>index/dates/<hub>/<date>           empty marker: "hub has an advertisement on date"
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

export const keys = (ns: string) => {
  const n = normalizeNamespace(ns);
  return {
    namespace: n,
    datasetsPrefix: `${n}datasets/`,
    hubDatasetsPrefix: (hub: string) => `${n}datasets/${hub}/`,
    dateDatasetsPrefix: (hub: string, date: string) => `${n}datasets/${hub}/${date}/`,
    dataset: (id: DatasetId) => `${n}datasets/${id.hub}/${id.date}/${id.operator}`,
    inProgress: (id: DatasetId) => `${n}inprogress/${id.hub}/${id.date}/${id.operator}`,
    operatorsPrefix: `${n}operators/`,
    operator: (operator: string) => `${n}operators/${operator}`,
    dateIndexPrefix: `${n}index/dates/`,
    hubDateIndexPrefix: (hub: string) => `${n}index/dates/${hub}/`,
    dateIndex: (hub: string, date: string) => `${n}index/dates/${hub}/${date}`,
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
