/**
 * The line a fetched record is stored as when no committed record has its id yet: computed once
 * when the record is fetched and spooled as it is, so the merge of a first pull only copies lines,
 * and the merge of a rerun compares a committed line with it before parsing anything.
 *
 * It is `canonicalLine(mergeRecord(undefined, fields, hubId, source, sourceId))` (through
 * `toCsvShape` for a CSV data file), where `fields` have been through JSON as the spool used to
 * keep them (a Buffer, a bigint or a nested date are what JSON makes of them). CSV rows, whose
 * columns are known and whose values are text, take a template instead of building objects.
 */
import { canonicalLine, EXT, HUB_ID, mergeRecord, type Rec } from './records.js';
import { toCsvShape } from './store.js';

/** Values JSON keeps as they are, or turns into what `canonical` would (dates, NaN, undefined). */
const keptByJson = (v: unknown) =>
  v === null || v instanceof Date || (typeof v !== 'object' && typeof v !== 'bigint' && typeof v !== 'function' && typeof v !== 'symbol');

/** `fields` as JSON gives them back (only copied when a value would change). */
export function throughJson(fields: Rec): Rec {
  for (const k in fields) if (Object.hasOwn(fields, k) && !keptByJson(fields[k])) return JSON.parse(JSON.stringify(fields)) as Rec;
  return fields;
}

/** The stored line of a fetched record (see above), for any record. */
export function freshLine(fields: Rec, hubId: string | number, source: string, sourceId: string | number, csv: boolean): string {
  const rec = mergeRecord(undefined, throughJson(fields), hubId, source, sourceId);
  return canonicalLine(csv ? toCsvShape(rec) : rec);
}

/** Characters JSON.stringify escapes in a string (a decoded CSV file has no lone surrogates, but a caller's string might). */
const ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;

/** A string as JSON.stringify writes it: most need no escape, and a test is cheaper than the call. */
const quoted = (s: string) => (ESCAPED.test(s) ? JSON.stringify(s) : `"${s}"`);

/** A column name that V8 would list before the others (an array index), which a template cannot place. */
const INDEX_LIKE = /^\d+$/;

/**
 * The stored line of a CSV row, written from a template: for rows whose own keys are exactly
 * `columns` (each once) and whose values are strings. `id` first, the fields in `sort()` order,
 * `externalIds` last, as `canonical` orders them; a CSV data file drops empty values as
 * `toCsvShape` does.
 */
export class RowTemplate {
  /** Per field, in output order: its JSON key with the separators, and the column it is read from. */
  private readonly prefixes: string[];
  private readonly from: string[];
  private readonly suffixStart: string;

  private constructor(
    fields: [string, string][],
    source: string,
    private readonly csv: boolean,
  ) {
    fields.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    this.prefixes = fields.map(([name]) => `,${JSON.stringify(name)}:`);
    this.from = fields.map(([, column]) => column);
    this.suffixStart = `,"${EXT}":{${JSON.stringify(source)}:`;
  }

  /** The template for rows with these columns, or undefined when one cannot reproduce `canonical`'s order. */
  static of(columns: readonly string[], idField: string, source: string, csv: boolean): RowTemplate | undefined {
    if (columns.some((c) => INDEX_LIKE.test(c) || c === '__proto__')) return undefined;
    const fields = new Map<string, string>();
    for (const c of columns) if (c !== idField && c !== EXT && c !== HUB_ID) fields.set(c, c);
    // sourceFields: an `id` column of a source whose id field is another one is kept as `id_`.
    if (idField !== HUB_ID && columns.includes(HUB_ID)) fields.set(`${HUB_ID}_`, HUB_ID);
    return new RowTemplate([...fields], source, csv);
  }

  line(row: Rec, hubId: string | number, sourceId: string): string {
    let out = `{"${HUB_ID}":${typeof hubId === 'string' ? quoted(hubId) : JSON.stringify(hubId)}`;
    for (let i = 0; i < this.prefixes.length; i++) {
      const v = row[this.from[i]!] as string;
      if (this.csv && v === '') continue;
      out += this.prefixes[i]! + quoted(v);
    }
    return `${out}${this.suffixStart}${quoted(sourceId)}}}`;
  }
}
