/**
 * Files in bounded memory: line reading and buffered writing, an external sort (sorted runs of at
 * most `chunkSize` records on disk, then a k-way merge), and the hub's data file in either stored
 * format (NDJSON, or CSV with `externalIds.<source>` columns), always read and written sorted by id.
 */
import { createReadStream, createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import { canonical, canonicalLine, compareKeys, EXT, HUB_ID, idString, isPlainObject, sortKey, type Rec } from './records.js';
import { makeDirs } from '../../adapters/dirs.js';

/** Lines of a file (without their `\n` or `\r\n`), streamed. */
export async function* readLines(path: string, bufferBytes = 1 << 20): AsyncGenerator<string> {
  const stream = createReadStream(path, { encoding: 'utf8', highWaterMark: bufferBytes });
  let rest = '';
  for await (const chunk of stream) {
    const parts = (rest + (chunk as string)).split('\n');
    rest = parts.pop()!;
    for (const p of parts) yield p.endsWith('\r') ? p.slice(0, -1) : p;
  }
  if (rest) yield rest.endsWith('\r') ? rest.slice(0, -1) : rest;
}

/** A buffered writer that respects backpressure. */
export class LineWriter {
  private readonly stream: WriteStream;
  private buf = '';
  private failed: Error | undefined;

  constructor(readonly path: string) {
    makeDirs(dirname(path));
    this.stream = createWriteStream(path, { encoding: 'utf8' });
    this.stream.on('error', (e) => (this.failed = e));
  }

  async write(text: string): Promise<void> {
    this.buf += text;
    if (this.buf.length >= 1 << 20) await this.flush();
  }

  private async flush(): Promise<void> {
    if (this.failed) throw this.failed;
    const b = this.buf;
    this.buf = '';
    if (b && !this.stream.write(b)) {
      await new Promise<void>((resolve, reject) => {
        const onError = (e: Error) => reject(e);
        this.stream.once('error', onError);
        this.stream.once('drain', () => {
          this.stream.off('error', onError);
          resolve();
        });
      });
    }
  }

  async close(): Promise<void> {
    await this.flush();
    await new Promise<void>((resolve, reject) => {
      if (this.failed) return reject(this.failed);
      this.stream.once('error', reject);
      this.stream.once('finish', () => (this.failed ? reject(this.failed) : resolve()));
      this.stream.end();
    });
  }

  /** Close without caring (clean-up after a failure). */
  abandon(): void {
    this.stream.destroy();
  }
}

/** sha1 of a file's bytes (undefined when it does not exist). */
export async function fileDigest(path: string): Promise<string | undefined> {
  if (!existsSync(path)) return undefined;
  const h = createHash('sha1');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

interface Entry {
  key: string;
  text: string;
}

/**
 * An external sort: entries are buffered up to `chunkSize`, sorted (stably) and written as a run;
 * `sorted()` merges the runs. Entries with equal keys come out in the order they were added.
 * Texts must not contain a newline (JSON text never does).
 */
export class SortSpool {
  private buf: Entry[] = [];
  private readonly runs: string[] = [];
  count = 0;

  constructor(
    private readonly dir: string,
    private readonly chunkSize = 100_000,
  ) {}

  async add(key: string, text: string): Promise<void> {
    this.buf.push({ key, text });
    this.count++;
    if (this.buf.length >= this.chunkSize) await this.spill();
  }

  private async spill(): Promise<void> {
    const entries = this.buf.sort((a, b) => compareKeys(a.key, b.key));
    this.buf = [];
    const path = join(this.dir, `run-${this.runs.length}.txt`);
    const w = new LineWriter(path);
    for (const e of entries) await w.write(`${JSON.stringify(e.key)}\t${e.text}\n`);
    await w.close();
    this.runs.push(path);
  }

  async *sorted(): AsyncGenerator<Entry> {
    if (this.runs.length === 0) {
      const entries = this.buf.sort((a, b) => compareKeys(a.key, b.key));
      this.buf = [];
      yield* entries;
      return;
    }
    if (this.buf.length) await this.spill();
    // k-way merge over a binary heap of run heads; ties go to the earlier run (stable).
    const iters = this.runs.map((p) => readLines(p, 64 * 1024)[Symbol.asyncIterator]());
    const heap = new HeadHeap();
    const next = async (run: number) => {
      const r = await iters[run]!.next();
      if (r.done) return;
      const tab = r.value.indexOf('\t');
      heap.push({ key: JSON.parse(r.value.slice(0, tab)) as string, text: r.value.slice(tab + 1), run });
    };
    for (let i = 0; i < iters.length; i++) await next(i);
    while (heap.size) {
      const h = heap.pop();
      yield { key: h.key, text: h.text };
      await next(h.run);
    }
  }
}

interface Head extends Entry {
  run: number;
}

/** A binary min-heap of the runs' current lines; ties go to the earlier run (stable). */
class HeadHeap {
  private readonly heap: Head[] = [];

  get size(): number {
    return this.heap.length;
  }

  private less(a: Head, b: Head): boolean {
    return a.key === b.key ? a.run < b.run : a.key < b.key;
  }

  push(h: Head): void {
    const heap = this.heap;
    heap.push(h);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(heap[i]!, heap[p]!)) break;
      [heap[i], heap[p]] = [heap[p]!, heap[i]!];
      i = p;
    }
  }

  pop(): Head {
    const heap = this.heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && this.less(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && this.less(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
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
  if (!existsSync(path)) return;
  if (format === 'ndjson') {
    let lineNo = 0;
    for await (const line of readLines(path)) {
      lineNo++;
      if (line.trim() === '') continue;
      let rec: unknown;
      try {
        rec = JSON.parse(line);
      } catch {
        throw new StoreError(`line ${lineNo} of ${path} is not JSON`);
      }
      const id = isPlainObject(rec) ? idString(rec[HUB_ID]) : undefined;
      if (id === undefined) throw new StoreError(`line ${lineNo} of ${path} is not a record with an "id"`);
      yield { key: sortKey(id), rec: rec as Rec, line, lineNo };
    }
    return;
  }
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
