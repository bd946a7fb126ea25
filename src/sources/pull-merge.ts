/**
 * The merge of a pull: the committed records (sorted by id) and the fetched ones (spooled sorted,
 * an id possibly several times) into the new data file, line by line. Also the re-sort of a
 * committed file that is out of order.
 *
 * A spooled entry is `<updated value>\t<fresh line>`: the line the record is stored as when no
 * committed record has its id (core/fresh.ts). A new id is that line as it is; a committed line
 * equal to it is unchanged (merging the record into it gives it back); only the others are parsed
 * and merged. The merge awaits only to read or write a chunk.
 */
import { usageError } from '../errors.js';
import { makeDirs } from '../adapters/dirs.js';
import { canonicalLine, contentKey, EXT, externalIds, HUB_ID, mergeRecord, type Rec, type RunReport } from './core/records.js';
import { csvNames, LineWriter, SortSpool, StoreError, StoredReader, toCsvShape, type StoredFormat, type StoredRecord } from './core/store.js';
import type { SortedBatch } from './core/spool.js';

/**
 * The start of a spooled entry's text, before its fresh line: the record's updated value and a tab.
 * Empty when there is none or it is infinite: the JSON the spool used to hold made both null.
 */
export function spoolHead(upd: number | null): string {
  return upd !== null && Number.isFinite(upd) ? `${upd}\t` : '\t';
}

const updOf = (text: string) => {
  const u = text.slice(0, text.indexOf('\t'));
  return u === '' ? -Infinity : Number(u);
};

const lineOf = (text: string) => text.slice(text.indexOf('\t') + 1);

/** What a fresh line says about the fetched record: its hub id, its id at the source, its fields. */
function fetchedOf(line: string, name: string): { hubId: string | number; sourceId: string | number; fields: Rec } {
  const { [HUB_ID]: hubId, [EXT]: ext, ...fields } = JSON.parse(line) as Rec;
  return { hubId: hubId as string | number, sourceId: externalIds({ [EXT]: ext })[name] as string | number, fields };
}

/** A committed file that is out of order (edited by hand): sort it, the last line of an id winning. */
export async function resortCommitted(abs: string, format: StoredFormat, target: string, work: string, chunk: number): Promise<void> {
  const spool = new SortSpool(work, chunk);
  makeDirs(work);
  const r = new StoredReader(abs, format);
  try {
    while (await r.fill()) {
      for (let s = r.next(); s !== undefined; s = r.next()) if (spool.push(s.key, format === 'ndjson' ? s.line : canonicalLine(s.rec))) await spool.spill();
    }
  } finally {
    await r.close();
  }
  const w = new LineWriter(target);
  let pending: { key: string; text: string } | undefined;
  for await (const b of spool.batches()) {
    for (let i = 0; i < b.keys.length; i++) {
      if (pending && pending.key !== b.keys[i]) w.putLine(pending.text);
      pending = { key: b.keys[i]!, text: b.texts[i]! };
    }
    if (w.needsFlush) await w.flush();
  }
  if (pending) w.putLine(pending.text);
  await w.close();
}

export interface MergeResult {
  /** The CSV column names seen. */
  columns: Set<string>;
  /** Is the new file byte for byte the committed one? Undefined when only comparing the files can tell. */
  identical: boolean | undefined;
}

/**
 * The merge: committed records (sorted) and fetched ones (sorted, an id possibly several times)
 * into `target`. Untouched records keep their line byte for byte; a fetched id keeps the version
 * with the highest updated value (the last one on a tie). With `keysFromText`, committed lines
 * are known to carry their id where `leadingIdKey` reads it (an earlier pass checked every line).
 */
export async function mergeInto(
  committed: { path: string; format: StoredFormat; keysFromText?: boolean },
  spool: SortSpool,
  target: string,
  name: string,
  format: StoredFormat,
  report: RunReport,
): Promise<MergeResult> {
  const reader = new StoredReader(committed.path, committed.format, committed.keysFromText);
  const merge = new Merge(reader, new LineWriter(target), name, format, report);
  try {
    await merge.refill();
    for await (const b of spool.batches()) await merge.batch(b);
    await merge.finish();
  } catch (e) {
    merge.abandon();
    if (e instanceof StoreError) throw usageError(e.message);
    throw e;
  } finally {
    await reader.close();
  }
  const exact = reader.exact && committed.format === 'ndjson' && format === 'ndjson';
  return { columns: merge.columns, identical: exact ? !merge.rewritten : undefined };
}

/** The new file being written: committed records copied through, fetched ones upserted in id order. */
class Merge {
  readonly columns = new Set<string>();
  /** Something other than a committed line, as it was, was written. */
  rewritten = false;
  /** The committed record not written yet (undefined: read the next batch, unless `ended`). */
  private c: StoredRecord | undefined;
  private ended = false;
  /** The fetched id being collected (its versions may span batches) and its latest version. */
  private groupKey = '';
  private group: string | undefined;

  constructor(
    private readonly committed: StoredReader,
    private readonly w: LineWriter,
    private readonly name: string,
    private readonly format: StoredFormat,
    private readonly report: RunReport,
  ) {}

  async refill(): Promise<void> {
    this.ended = !(await this.committed.fill());
    this.c = this.committed.next();
  }

  /** A batch of spooled entries: one version per id goes on to `apply`; the others are reported. */
  async batch(b: SortedBatch): Promise<void> {
    for (let i = 0; i < b.keys.length; i++) {
      const key = b.keys[i]!;
      const text = b.texts[i]!;
      if (this.group !== undefined && this.groupKey === key) {
        this.duplicate(text);
        continue;
      }
      if (this.group !== undefined) {
        const io = this.apply(this.groupKey, this.group);
        if (io) await io;
      }
      this.groupKey = key;
      this.group = text;
    }
  }

  /** Another version of the id being collected: the highest updated value wins, the last one on a tie. */
  private duplicate(text: string): void {
    const e = fetchedOf(lineOf(text), this.name);
    this.report.warn('duplicate-id', { id: String(e.hubId), message: `id ${JSON.stringify(e.sourceId)} came more than once; the latest version is kept` });
    if (updOf(text) >= updOf(this.group!)) this.group = text;
  }

  /**
   * Upsert the fetched record of hub id `key`, after the committed records before it. Synchronous
   * unless a chunk has to be read or written: then the promise of finishing it.
   */
  private apply(key: string, text: string): Promise<void> | undefined {
    for (;;) {
      const c = this.c;
      if (c === undefined) {
        if (this.ended) break;
        return this.refill().then(() => this.apply(key, text));
      }
      if (c.key >= key) break;
      this.copyCommitted(c);
      this.c = this.committed.next();
      if (this.w.needsFlush) return this.w.flush().then(() => this.apply(key, text));
    }
    const old = this.c !== undefined && this.c.key === key ? this.c : undefined;
    this.upsert(old, lineOf(text));
    if (old) this.c = this.committed.next();
    return this.w.needsFlush ? this.w.flush() : undefined;
  }

  private upsert(old: StoredRecord | undefined, fresh: string): void {
    if (!old) {
      this.report.added++;
      this.rewritten = true;
      this.emit(fresh, undefined);
      return;
    }
    if (old.line === fresh) {
      this.report.unchanged++; // the common case: byte for byte the same
      this.emit(fresh, undefined);
      return;
    }
    const e = fetchedOf(fresh, this.name);
    let rec = mergeRecord(old.rec, e.fields, e.hubId, this.name, e.sourceId);
    if (this.format === 'csv') rec = toCsvShape(rec);
    const line = canonicalLine(rec);
    if (line === old.line) this.report.unchanged++;
    else if (contentKey(rec) === contentKey(old.rec)) this.report.unchanged++;
    else this.report.updated++;
    const out = line !== old.line && this.committed.format === 'ndjson' && line === canonicalLine(old.rec) ? old.line : line;
    if (out !== old.line) this.rewritten = true;
    this.emit(out, rec);
  }

  private emit(line: string, rec: Rec | undefined): void {
    this.w.putLine(line);
    if (this.format === 'csv') for (const n of csvNames(rec ?? (JSON.parse(line) as Rec))) this.columns.add(n);
  }

  /** Write a committed record as it is (its very line when the formats allow). */
  private copyCommitted(c: StoredRecord): void {
    const verbatim = this.committed.format === this.format && this.format === 'ndjson';
    if (!verbatim) this.rewritten = true;
    this.emit(verbatim ? c.line : canonicalLine(c.rec), verbatim ? undefined : c.rec);
  }

  /** The last fetched id, the committed records after it; then close the file. */
  async finish(): Promise<void> {
    if (this.group !== undefined) {
      const io = this.apply(this.groupKey, this.group);
      if (io) await io;
      this.group = undefined;
    }
    for (;;) {
      for (let c = this.c; c !== undefined; c = this.c) {
        this.copyCommitted(c);
        this.c = this.committed.next();
        if (this.w.needsFlush) await this.w.flush();
      }
      if (this.ended) break;
      await this.refill();
    }
    await this.w.close();
  }

  abandon(): void {
    this.w.abandon();
  }
}
