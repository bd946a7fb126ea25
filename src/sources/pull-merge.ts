/**
 * The merge of a pull: the committed records (sorted by id) and the fetched ones (spooled sorted,
 * an id possibly several times) into the new data file, line by line. Also the re-sort of a
 * committed file that is out of order.
 */
import { join } from 'node:path';
import { usageError } from '../errors.js';
import { makeDirs } from '../adapters/dirs.js';
import { canonicalLine, contentKey, mergeRecord, type Rec, type RunReport } from './core/records.js';
import { csvNames, LineWriter, readStored, SortSpool, StoreError, toCsvShape, type StoredFormat, type StoredRecord } from './core/store.js';

/** A fetched record as the spool keeps it (JSON text), sorted by its hub id. */
export interface SpoolEntry {
  hubId: string | number;
  sourceId: string | number;
  /** Its updated value (null without an updated field): the latest version of an id wins. */
  upd: number | null;
  fields: Rec;
  /** Line or position at the source. */
  where: number;
}

/** A committed file that is out of order (edited by hand): sort it, the last line of an id winning. */
export async function resortCommitted(abs: string, format: StoredFormat, target: string, work: string, chunk: number): Promise<void> {
  const spool = new SortSpool(join(work), chunk);
  makeDirs(work);
  for await (const r of readStored(abs, format)) await spool.add(r.key, format === 'ndjson' ? r.line : canonicalLine(r.rec));
  const w = new LineWriter(target);
  let pending: { key: string; text: string } | undefined;
  for await (const e of spool.sorted()) {
    if (pending && pending.key !== e.key) await w.write(`${pending.text}\n`);
    pending = e;
  }
  if (pending) await w.write(`${pending.text}\n`);
  await w.close();
}

/**
 * The merge: committed records (sorted) and fetched ones (sorted, an id possibly several times)
 * into `target`. Untouched records keep their line byte for byte; a fetched id keeps the version
 * with the highest updated value (the last one on a tie). Returns the CSV column names seen.
 */
export async function mergeInto(
  committedPath: string,
  committedFormat: StoredFormat,
  spool: SortSpool,
  target: string,
  name: string,
  format: StoredFormat,
  report: RunReport,
): Promise<Set<string>> {
  const committed = readStored(committedPath, committedFormat)[Symbol.asyncIterator]();
  const first = await committed.next();
  const merge = new Merge(committed, first, committedFormat, new LineWriter(target), name, format, report);
  try {
    for await (const { key, entry } of latestPerId(spool, report)) await merge.apply(key, entry);
    await merge.finish();
  } catch (e) {
    merge.abandon();
    if (e instanceof StoreError) throw usageError(e.message);
    throw e;
  }
  return merge.columns;
}

/** The spooled entries, one per id: the one with the highest updated value (the last one on a tie); duplicates are reported. */
async function* latestPerId(spool: SortSpool, report: RunReport): AsyncGenerator<{ key: string; entry: SpoolEntry }> {
  let group: { key: string; best: SpoolEntry } | undefined;
  for await (const s of spool.sorted()) {
    const e = JSON.parse(s.text) as SpoolEntry;
    if (group && group.key === s.key) {
      report.warn('duplicate-id', { id: String(e.hubId), message: `id ${JSON.stringify(e.sourceId)} came more than once; the latest version is kept` });
      if ((e.upd ?? -Infinity) >= (group.best.upd ?? -Infinity)) group.best = e;
      continue;
    }
    if (group) yield { key: group.key, entry: group.best };
    group = { key: s.key, best: e };
  }
  if (group) yield { key: group.key, entry: group.best };
}

/** The new file being written: committed records copied through, fetched ones upserted in id order. */
class Merge {
  readonly columns = new Set<string>();

  constructor(
    private readonly committed: AsyncIterator<StoredRecord>,
    /** The committed record not written yet. */
    private c: IteratorResult<StoredRecord>,
    private readonly committedFormat: StoredFormat,
    private readonly w: LineWriter,
    private readonly name: string,
    private readonly format: StoredFormat,
    private readonly report: RunReport,
  ) {}

  private async emit(line: string, rec: Rec | undefined): Promise<void> {
    await this.w.write(`${line}\n`);
    if (this.format === 'csv') for (const n of csvNames(rec ?? (JSON.parse(line) as Rec))) this.columns.add(n);
  }

  /** Write the current committed record as it is (its very line when the formats allow) and read the next one. */
  private async copyCommitted(c: StoredRecord): Promise<void> {
    await this.emit(this.committedFormat === this.format && this.format === 'ndjson' ? c.line : canonicalLine(c.rec), c.rec);
    this.c = await this.committed.next();
  }

  /** Upsert the fetched record of hub id `key`, after the committed records before it. */
  async apply(key: string, e: SpoolEntry): Promise<void> {
    while (!this.c.done && this.c.value.key < key) await this.copyCommitted(this.c.value);
    const old = !this.c.done && this.c.value.key === key ? this.c.value : undefined;
    let rec = mergeRecord(old?.rec, e.fields, e.hubId, this.name, e.sourceId);
    if (this.format === 'csv') rec = toCsvShape(rec);
    const line = canonicalLine(rec);
    if (!old) {
      this.report.added++;
      await this.emit(line, rec);
      return;
    }
    if (line === old.line)
      this.report.unchanged++; // the common case: byte for byte the same
    else if (contentKey(rec) === contentKey(old.rec)) this.report.unchanged++;
    else this.report.updated++;
    await this.emit(line !== old.line && this.committedFormat === 'ndjson' && line === canonicalLine(old.rec) ? old.line : line, rec);
    this.c = await this.committed.next();
  }

  /** The committed records after the last fetched one; then close the file. */
  async finish(): Promise<void> {
    while (!this.c.done) await this.copyCommitted(this.c.value);
    await this.w.close();
  }

  abandon(): void {
    this.w.abandon();
  }
}
