/**
 * The pure heart of `source`: record ids and their order, the canonical line a record is stored
 * as, the upsert of a fetched record into a committed one, change detection that ignores
 * `externalIds`, the incremental cursor, and the run report. No I/O.
 *
 * The hub's data file holds one JSON record a line, sorted by `id` (numbers in numeric order, then
 * other ids in code-unit order), so a pull that changes ten records changes ten lines.
 * `externalIds.<source>` is the id a system knows the record by: set for every record pulled from
 * that source, and written back for every record a destination created.
 */
import { createHash } from 'node:crypto';

export type Rec = Record<string, unknown>;
export const EXT = 'externalIds';
export const HUB_ID = 'id';

export const isPlainObject = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date) && !Buffer.isBuffer(v);

/** An id value as a string: non-empty strings and finite numbers only. */
export function idString(v: unknown): string | undefined {
  if (typeof v === 'string') return v.trim() === '' ? undefined : v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v === 'bigint') return String(v);
  return undefined;
}

const INT_RE = /^(0|[1-9]\d{0,29})$/;

/**
 * A string whose plain (code-unit) order is the order of ids in the file: non-negative integers by
 * value first, then every other id as text. A total order, so merges never disagree with sorts.
 */
export function sortKey(id: string): string {
  return INT_RE.test(id) ? '0' + String(id.length).padStart(2, '0') + id : '1' + id;
}

export const compareKeys = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** A value as JSON will keep it: dates as ISO text, bigints and buffers as text, keys sorted. */
export function normalizeValue(v: unknown): unknown {
  if (v === undefined) return undefined;
  if (v === null) return null;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (typeof v === 'bigint') return Number.isSafeInteger(Number(v)) ? Number(v) : String(v);
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (Buffer.isBuffer(v)) return '\\x' + v.toString('hex');
  if (Array.isArray(v)) return v.map((x) => (x === undefined ? null : normalizeValue(x)));
  if (typeof v === 'object') {
    const out: Rec = {};
    for (const k of Object.keys(v as Rec).sort()) {
      const n = normalizeValue((v as Rec)[k]);
      if (n !== undefined) out[k] = n;
    }
    return out;
  }
  return v;
}

/** The stored form of a record: `id` first, then fields sorted, `externalIds` last, all normalized. */
export function canonical(rec: Rec): Rec {
  const out: Rec = {};
  if (rec[HUB_ID] !== undefined) out[HUB_ID] = normalizeValue(rec[HUB_ID]);
  for (const k of Object.keys(rec).sort()) {
    if (k === HUB_ID || k === EXT) continue;
    const n = normalizeValue(rec[k]);
    if (n !== undefined) out[k] = n;
  }
  if (isPlainObject(rec[EXT]) && Object.keys(rec[EXT]).length > 0) out[EXT] = normalizeValue(rec[EXT]);
  return out;
}

export const canonicalLine = (rec: Rec) => JSON.stringify(canonical(rec));

/** What counts as the record's content: everything but `externalIds`. */
export function contentKey(rec: Rec): string {
  const { [EXT]: _ignored, ...rest } = rec;
  return JSON.stringify(canonical(rest));
}

export const externalIds = (rec: Rec | undefined): Rec => (rec && isPlainObject(rec[EXT]) ? (rec[EXT] as Rec) : {});

/**
 * The hub id a record fetched from `source` gets when no committed record knows it yet: the
 * source's own id when the file is the source's own (`<hub>/<source>.ndjson`), else the id
 * prefixed with the source's name, so two sources sharing a file never collide.
 */
export function defaultHubId(source: string, home: boolean, sourceId: string | number): string | number {
  return home ? sourceId : `${source}:${sourceId}`;
}

/** An entry for the index "id at this source -> hub id", or undefined when the default mapping gives it. */
export function indexEntry(rec: Rec, source: string, home: boolean): [string, string | number] | undefined {
  const ext = externalIds(rec)[source];
  const sid = idString(ext);
  const hid = rec[HUB_ID];
  if (sid === undefined || idString(hid) === undefined) return undefined;
  if (idString(defaultHubId(source, home, ext as string | number)) === idString(hid)) return undefined;
  return [sid, hid as string | number];
}

/**
 * Upsert: the fetched fields replace the committed ones (fields the source does not send are
 * kept), `id` is the hub id, and `externalIds` keeps what every other system knows the record by,
 * with this source's id added.
 */
export function mergeRecord(committed: Rec | undefined, fields: Rec, hubId: string | number, source: string, sourceId: string | number): Rec {
  const out: Rec = committed ? { ...committed } : {};
  for (const [k, v] of Object.entries(fields)) {
    if (k === HUB_ID || k === EXT || v === undefined) continue;
    out[k] = v;
  }
  out[HUB_ID] = hubId;
  out[EXT] = { ...externalIds(committed), [source]: sourceId };
  return out;
}

/** The fields a source sent, without its id field (kept in externalIds) and without `externalIds`. */
export function sourceFields(raw: Rec, idField: string): Rec {
  const out: Rec = {};
  for (const [k, v] of Object.entries(raw)) if (k !== idField && k !== EXT && k !== HUB_ID) out[k] = v;
  // A source whose id field is not `id` but that also has an `id` column: keep it under another name.
  if (idField !== HUB_ID && raw[HUB_ID] !== undefined) out[`${HUB_ID}_`] = raw[HUB_ID];
  return out;
}

/**
 * What a destination receives for a hub record: its fields without the hub id and `externalIds`,
 * and, when the destination already knows the record, its id there under the destination's id field.
 */
export function outgoing(rec: Rec, destination: string, idField: string): { destId?: string | number; fields: Rec } {
  const fields: Rec = {};
  for (const [k, v] of Object.entries(rec)) if (k !== HUB_ID && k !== EXT) fields[k] = v;
  const destId = externalIds(rec)[destination];
  if (idString(destId) !== undefined) {
    fields[idField] = destId;
    return { destId: destId as string | number, fields };
  }
  delete fields[idField];
  return { fields };
}

// ---------------------------------------------------------------------------------------------
// The cursor: the highest updated-field value already committed.

export interface Cursor {
  /** The value as the source gave it (sent back to the source: a query parameter, an SQL parameter). */
  value: string | number;
  /** Its order: epoch milliseconds for dates, the number itself for numeric versions. */
  key: number;
}

/** The order of an updated-field value, or undefined when it is not a date or a number. */
export function updatedKey(v: unknown): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined;
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.getTime();
  if (typeof v !== 'string') return undefined;
  const utc = isoUtcMs(v);
  if (utc !== undefined) return utc;
  const s = v.trim();
  if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
  // Dates need at least YYYY-MM-DD; Date.parse alone accepts odd things like "1".
  if (!/^\d{4}-\d{2}-\d{2}/.test(s)) return undefined;
  const ms = Date.parse(s);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Two digits of `s` at `i` as a number, or -1. */
function twoDigits(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48;
  const b = s.charCodeAt(i + 1) - 48;
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

/**
 * `YYYY-MM-DDTHH:MM:SSZ`, the commonest updated value, read without Date.parse (a third of the
 * cost): only when every part is in the range where Date.parse gives the same (years from 1000,
 * days up to 31 rolling over as Date.parse rolls them), else undefined and Date.parse decides.
 */
function isoUtcMs(s: string): number | undefined {
  if (s.length !== 20 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45 || s.charCodeAt(10) !== 84) return undefined;
  if (s.charCodeAt(13) !== 58 || s.charCodeAt(16) !== 58 || s.charCodeAt(19) !== 90) return undefined;
  const century = twoDigits(s, 0);
  const year = twoDigits(s, 2);
  const month = twoDigits(s, 5);
  const day = twoDigits(s, 8);
  const hour = twoDigits(s, 11);
  const minute = twoDigits(s, 14);
  const second = twoDigits(s, 17);
  if (century < 10 || year < 0 || month < 1 || month > 12 || day < 1 || day > 31) return undefined;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return undefined;
  return Date.UTC(century * 100 + year, month - 1, day, hour, minute, second);
}

/** Is a record at or after the cursor? (Equal values are fetched again: the upsert drops the duplicates.) */
export const atOrAfter = (key: number, cursor: Cursor | undefined) => cursor === undefined || key >= cursor.key;

export function laterCursor(a: Cursor | undefined, b: Cursor | undefined): Cursor | undefined {
  if (!a) return b;
  if (!b) return a;
  return b.key > a.key ? b : a;
}

export function cursorValue(v: unknown): string | number {
  if (typeof v === 'number') return v;
  if (v instanceof Date) return v.toISOString();
  return String(v);
}

// ---------------------------------------------------------------------------------------------
// The per-source state file, committed with the data it describes.

export interface SourceState {
  pull?: { cursor?: Cursor };
  /** The commit whose records were last pushed. */
  push?: { commit?: string };
}

export function parseState(text: string | undefined): SourceState {
  if (!text) return {};
  try {
    const raw = JSON.parse(text) as SourceState;
    const out: SourceState = {};
    const c = raw?.pull?.cursor;
    const valueOk = c && (typeof c.value === 'string' || typeof c.value === 'number');
    if (c && valueOk && typeof c.key === 'number' && Number.isFinite(c.key)) out.pull = { cursor: { value: c.value, key: c.key } };
    const commit = raw?.push?.commit;
    if (typeof commit === 'string' && /^[0-9a-f]{40}$/.test(commit)) out.push = { commit };
    return out;
  } catch {
    return {};
  }
}

/** Deterministic text (no timestamps): a run that changes nothing changes nothing here either. */
export function serializeState(s: SourceState): string {
  const out: SourceState = {};
  if (s.pull?.cursor) out.pull = { cursor: { value: s.pull.cursor.value, key: s.pull.cursor.key } };
  if (s.push?.commit) out.push = { commit: s.push.commit };
  return JSON.stringify(out, null, 2) + '\n';
}

// ---------------------------------------------------------------------------------------------
// The report every run prints.

export type WarningKind = 'missing-id' | 'unparseable-date' | 'malformed-row' | 'malformed-record' | 'duplicate-id' | 'unknown-field' | 'rejected';

export interface WarningSample {
  line?: number;
  position?: number;
  id?: string;
  message: string;
}

const SAMPLES = 10;

export class RunReport {
  fetched = 0;
  added = 0;
  updated = 0;
  unchanged = 0;
  skipped = 0;
  pushed = 0;
  cursor: Cursor | undefined;
  private readonly warningMap = new Map<WarningKind, { count: number; samples: WarningSample[] }>();
  readonly errors: { kind: string; message: string; count?: number }[] = [];

  warn(kind: WarningKind, sample: WarningSample): void {
    let w = this.warningMap.get(kind);
    if (!w) {
      w = { count: 0, samples: [] };
      this.warningMap.set(kind, w);
    }
    w.count++;
    if (w.samples.length < SAMPLES) w.samples.push(sample);
  }

  error(kind: string, message: string, count?: number): void {
    this.errors.push(count === undefined ? { kind, message } : { kind, message, count });
  }

  get warningCount(): number {
    let n = 0;
    for (const w of this.warningMap.values()) n += w.count;
    return n;
  }

  /** Warnings grouped by kind, kinds sorted: `{kind: {count, samples}}`. */
  warnings(): Record<string, { count: number; samples: WarningSample[] }> {
    const out: Record<string, { count: number; samples: WarningSample[] }> = {};
    for (const k of [...this.warningMap.keys()].sort()) out[k] = this.warningMap.get(k)!;
    return out;
  }

  counts() {
    return { fetched: this.fetched, added: this.added, updated: this.updated, unchanged: this.unchanged, skipped: this.skipped, pushed: this.pushed };
  }
}

/** The text summary (stdout): counts, cursor, and what else the command says. */
export function summaryText(head: string, r: RunReport, extra: string[] = []): string {
  const c = r.counts();
  return [
    head,
    `  fetched ${c.fetched}, added ${c.added}, updated ${c.updated}, unchanged ${c.unchanged}, skipped ${c.skipped}, pushed ${c.pushed}, ` +
      `warnings ${r.warningCount}, errors ${r.errors.length}`,
    `  cursor ${r.cursor ? JSON.stringify(r.cursor.value) : '(none)'}`,
    ...extra.map((e) => `  ${e}`),
  ].join('\n');
}

const sampleWhere = (s: WarningSample) =>
  s.line !== undefined ? `line ${s.line}` : s.id !== undefined ? `id ${s.id}` : s.position !== undefined ? `record ${s.position}` : '';

/** One line per warning kind (stderr), with where the first few happened. */
export function warningLines(r: RunReport): string[] {
  const lines: string[] = [];
  for (const [kind, w] of Object.entries(r.warnings())) {
    const where = w.samples.map(sampleWhere).filter(Boolean);
    const first = w.samples[0]?.message ?? '';
    lines.push(`${kind}: ${w.count}${where.length ? ` (${where.join(', ')}${w.count > w.samples.length ? ', ...' : ''})` : ''}${first ? `: ${first}` : ''}`);
  }
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Push: which records changed since the last push, and who changed them.

/** The id and content of one stored line (undefined when the line is not a record with an id). */
export function lineRecord(line: string): { id: string; content: string } | undefined {
  let rec: unknown;
  try {
    rec = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (!isPlainObject(rec)) return undefined;
  const id = idString(rec[HUB_ID]);
  if (id === undefined) return undefined;
  return { id, content: contentKey(rec) };
}

/**
 * Folds one commit's diff of the data file (streamed: `-` lines of a hunk come before its `+`
 * lines) into `pending`: hub id -> "last changed by the destination itself". A record whose content
 * (not its externalIds) changed is pending; if the commit was a pull from the destination, the
 * destination already has that content and it is not sent back. A removed record is not pending.
 */
export class CommitFold {
  private readonly before = new Map<string, string>();
  private readonly kept = new Set<string>();

  constructor(
    private readonly pending: Map<string, boolean>,
    private readonly byDestination: boolean,
  ) {}

  removed(line: string): void {
    const r = lineRecord(line);
    if (r) this.before.set(r.id, digest(r.content));
  }

  added(line: string): void {
    const r = lineRecord(line);
    if (!r) return;
    const was = this.before.get(r.id);
    if (was !== undefined) this.kept.add(r.id);
    if (was === digest(r.content)) return; // only externalIds (or formatting) changed
    this.pending.set(r.id, this.byDestination);
  }

  end(): void {
    for (const id of this.before.keys()) if (!this.kept.has(id)) this.pending.delete(id);
  }
}

const digest = (s: string) => createHash('sha1').update(s).digest('base64');

/** `pull <name> <date>` commits are the source's own changes. */
export function pulledBy(subject: string): string | undefined {
  return /^pull (\S+) \d{4}-\d{2}-\d{2}$/.exec(subject.trim())?.[1];
}
