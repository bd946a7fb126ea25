/**
 * Files in bounded memory: line reading and buffered writing (./lines.ts), an external sort
 * (./spool.ts), and the hub's data file in either stored format (NDJSON, or CSV with
 * `externalIds.<source>` columns), always read and written sorted by id.
 */
import { createReadStream, existsSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { canonical, canonicalLine, EXT, HUB_ID, idString, isPlainObject, sortKey, type Rec } from './records.js';
import { LineReader, LineWriter, readLines } from './lines.js';

export { LineReader, LineWriter, readLines } from './lines.js';
export { SortSpool, type Entry, type SortedBatch } from './spool.js';

/** sha1 of a file's bytes (undefined when it does not exist). */
export async function fileDigest(path: string): Promise<string | undefined> {
  if (!existsSync(path)) return undefined;
  const h = createHash('sha1');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

// ---------------------------------------------------------------------------------------------
// The hub's data file.

export type StoredFormat = 'ndjson' | 'csv';

export interface StoredRecord {
  key: string;
  rec: Rec;
  /** The line as stored (NDJSON), written back verbatim when the record is untouched. */
  line: string;
  lineNo: number;
}

export class StoreError extends Error {}

/** The committed records, in file order. A line that is not a record with an id is a StoreError. */
export async function* readStored(path: string, format: StoredFormat): AsyncGenerator<StoredRecord> {
  if (format === 'csv') {
    yield* readStoredCsv(path);
    return;
  }
  const r = new StoredReader(path, format);
  try {
    while (await r.fill()) for (let s = r.next(); s !== undefined; s = r.next()) yield s;
  } finally {
    await r.close();
  }
}

async function* readStoredCsv(path: string): AsyncGenerator<StoredRecord> {
  if (!existsSync(path)) return;
  const { parse } = await import('csv-parse');
  const parser = createReadStream(path).pipe(parse({ bom: true, columns: true, info: true, relax_column_count: false }));
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number } }>) {
      const rec = fromCsvRow(record);
      const id = idString(rec[HUB_ID]);
      if (id === undefined) throw new StoreError(`line ${info.lines} of ${path} has no "id"`);
      yield { key: sortKey(id), rec, line: canonicalLine(rec), lineNo: info.lines };
    }
  } catch (e) {
    if (e instanceof StoreError) throw e;
    throw new StoreError(`${path} is not a readable CSV: ${(e as Error).message}`);
  }
}

/** A stored NDJSON line whose record is parsed when asked for (an untouched line is only copied). */
class StoredLine implements StoredRecord {
  private parsed: Rec | undefined;

  constructor(
    readonly key: string,
    readonly line: string,
    readonly lineNo: number,
    rec?: Rec,
  ) {
    this.parsed = rec;
  }

  get rec(): Rec {
    this.parsed ??= JSON.parse(this.line) as Rec;
    return this.parsed;
  }
}

/**
 * The committed records a chunk at a time: `next()` until undefined, then `fill()` until false.
 * Every line is parsed and checked, unless `keysFromText` says an earlier pass found each line's
 * id where `leadingIdKey` reads it: then a line is only parsed when its record is asked for.
 */
export class StoredReader {
  private readonly lines: LineReader | undefined;
  private csv: AsyncGenerator<StoredRecord> | undefined;
  private batch: StoredRecord[] = [];
  private at = 0;
  private lineNo = 0;
  /** No line so far had an id other than the one `leadingIdKey` reads (when it reads one). */
  keysInText = true;
  private blank = false;

  constructor(
    readonly path: string,
    readonly format: StoredFormat,
    private readonly keysFromText = false,
  ) {
    const exists = existsSync(path);
    if (exists && format === 'ndjson') this.lines = new LineReader(path, 256 * 1024);
    if (exists && format === 'csv') this.csv = readStoredCsv(path);
  }

  /** The file's bytes are exactly its record lines, each with `\n` (so copying every line verbatim rewrites it as it was). */
  get exact(): boolean {
    return !this.blank && (this.lines?.exact ?? !this.csv);
  }

  /** The next record of the lines read, parsed (and checked) only now: a batch of lines is not a batch of live objects. */
  next(): StoredRecord | undefined {
    if (this.csv) return this.at < this.batch.length ? this.batch[this.at++] : undefined;
    for (let line = this.lines?.next(); line !== undefined; line = this.lines!.next()) {
      const s = this.stored(line);
      if (s) return s;
    }
    return undefined;
  }

  async fill(): Promise<boolean> {
    if (this.csv) return this.fillCsv(this.csv);
    return (await this.lines?.fill()) ?? false;
  }

  private stored(line: string): StoredRecord | undefined {
    this.lineNo++;
    if (line.trim() === '') {
      this.blank = true;
      return undefined;
    }
    const known = this.keysFromText ? leadingIdKey(line) : undefined;
    if (known !== undefined) return new StoredLine(known, line, this.lineNo);
    const rec = parseStoredLine(line, this.lineNo, this.path);
    const key = sortKey(idString(rec[HUB_ID])!);
    if (this.keysInText && (leadingIdKey(line) ?? key) !== key) this.keysInText = false;
    return new StoredLine(key, line, this.lineNo, rec);
  }

  private async fillCsv(csv: AsyncGenerator<StoredRecord>): Promise<boolean> {
    this.batch = [];
    this.at = 0;
    while (this.batch.length < 1024) {
      const r = await csv.next();
      if (r.done) break;
      this.batch.push(r.value);
    }
    return this.batch.length > 0;
  }

  async close(): Promise<void> {
    await this.lines?.close();
    await this.csv?.return(undefined);
  }
}

function parseStoredLine(line: string, lineNo: number, path: string): Rec {
  let rec: unknown;
  try {
    rec = JSON.parse(line);
  } catch {
    throw new StoreError(`line ${lineNo} of ${path} is not JSON`);
  }
  if (!isPlainObject(rec) || idString(rec[HUB_ID]) === undefined) throw new StoreError(`line ${lineNo} of ${path} is not a record with an "id"`);
  return rec;
}

const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/**
 * The sort key of a stored line read from its text, when the line starts with `{"id":` and a
 * string without escapes or a number (what every line syncer writes looks like); else undefined.
 * Only a trusted guess: a later `"id"` in the same line would win in JSON.parse.
 */
export function leadingIdKey(line: string): string | undefined {
  if (!line.startsWith('{"id":')) return undefined;
  let end: number;
  let id: string | undefined;
  if (line.charCodeAt(6) === 34) {
    end = line.indexOf('"', 7);
    if (end < 0) return undefined;
    const s = line.slice(7, end);
    if (s.includes('\\')) return undefined;
    id = idString(s);
    end++;
  } else {
    end = 6;
    while (end < line.length && line.charCodeAt(end) !== 44 && line.charCodeAt(end) !== 125) end++;
    const token = line.slice(6, end);
    id = JSON_NUMBER.test(token) ? idString(Number(token)) : undefined;
  }
  const after = line.charCodeAt(end);
  return id !== undefined && (after === 44 || after === 125) ? sortKey(id) : undefined;
}

/** A stored CSV row as a record: empty cells are absent, `externalIds.<s>` columns nest. */
export function fromCsvRow(row: Record<string, string>): Rec {
  const rec: Rec = {};
  const ext: Rec = {};
  for (const [k, v] of Object.entries(row)) {
    if (v === '' || v === undefined) continue;
    if (k.startsWith(`${EXT}.`)) ext[k.slice(EXT.length + 1)] = v;
    else rec[k] = v;
  }
  if (Object.keys(ext).length) rec[EXT] = ext;
  return rec;
}

/**
 * What a CSV file can hold: text. Fields become strings, nested objects dotted columns, arrays
 * JSON text; empty and null values are absent. Records compared in this form compare the same
 * way after a round trip through the file.
 */
export function toCsvShape(rec: Rec): Rec {
  const out: Rec = {};
  const put = (prefix: string, v: unknown) => {
    if (v === undefined || v === null || v === '') return;
    if (isPlainObject(v)) {
      for (const [k, x] of Object.entries(v)) put(`${prefix}.${k}`, x);
      return;
    }
    const n = canonical({ v }).v;
    out[prefix] = typeof n === 'string' ? n : JSON.stringify(n);
  };
  for (const [k, v] of Object.entries(rec)) {
    if (k === EXT) continue;
    put(k, v);
  }
  const ext = isPlainObject(rec[EXT]) ? (rec[EXT] as Rec) : {};
  const e: Rec = {};
  for (const [k, v] of Object.entries(ext)) if (v !== undefined && v !== null && v !== '') e[k] = String(v);
  if (Object.keys(e).length) out[EXT] = e;
  return out;
}

/** CSV columns: `id`, the fields sorted, then `externalIds.*` sorted. */
export function csvColumns(names: Iterable<string>): string[] {
  const all = [...new Set(names)];
  const ext = all.filter((c) => c.startsWith(`${EXT}.`)).sort();
  const rest = all.filter((c) => c !== HUB_ID && !c.startsWith(`${EXT}.`)).sort();
  return [HUB_ID, ...rest, ...ext];
}

/** Column names a record occupies in the CSV form. */
export function csvNames(rec: Rec): string[] {
  const names = Object.keys(rec).filter((k) => k !== EXT);
  for (const k of Object.keys(isPlainObject(rec[EXT]) ? (rec[EXT] as Rec) : {})) names.push(`${EXT}.${k}`);
  return names;
}

/** Write NDJSON lines (already sorted, canonical) as a CSV file with the given columns. */
export async function writeCsvFromNdjson(ndjsonPath: string, csvPath: string, columns: string[]): Promise<void> {
  const { stringify } = await import('csv-stringify/sync');
  const w = new LineWriter(csvPath);
  try {
    await w.write(stringify([columns]));
    let batch: string[][] = [];
    const flush = async () => {
      if (batch.length) await w.write(stringify(batch));
      batch = [];
    };
    for await (const line of readLines(ndjsonPath)) {
      if (!line) continue;
      const rec = JSON.parse(line) as Rec;
      const ext = isPlainObject(rec[EXT]) ? (rec[EXT] as Rec) : {};
      batch.push(
        columns.map((c) => {
          const v = c.startsWith(`${EXT}.`) ? ext[c.slice(EXT.length + 1)] : rec[c];
          return v === undefined || v === null ? '' : typeof v === 'string' ? v : JSON.stringify(v);
        }),
      );
      if (batch.length >= 1000) await flush();
    }
    await flush();
    await w.close();
  } catch (e) {
    w.abandon();
    throw e;
  }
}
