/**
 * CSV: a local file or an http(s) URL, streamed (header row, quoting, BOM, any delimiter), so a
 * million rows never sit in memory: read by a fast reader that gives what csv-parse gives
 * (./csv-rows.ts), and by csv-parse itself for what that reader leaves to it. A row that does not
 * fit the header is skipped and reported with its line number. As a destination, a local CSV file
 * is upserted by id.
 */
import { createReadStream, existsSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { usageError } from '../../errors.js';
import {
  remoteError,
  throwIfAborted,
  type Destination,
  type FetchContext,
  type FetchedItem,
  type OutgoingRecord,
  type PushContext,
} from '../core/connector.js';
import type { CsvDefinition } from '../core/definitions.js';
import { idString, type Rec } from '../core/records.js';
import { LineWriter, toCsvShape } from '../core/store.js';
import { openDownload } from './http.js';
import { type CsvRows, FastCsv, fastDelimiter, type HandOver } from './csv-rows.js';
import type { FetchedBatch } from './index.js';

/** `tab`, `\t` and friends as the character they mean. */
export function delimiterOf(d: string | undefined): string {
  if (d === undefined) return ',';
  if (d === 'tab' || d === '\\t') return '\t';
  if (d === 'semicolon') return ';';
  if (d === 'pipe') return '|';
  return d;
}

export function csvPath(d: CsvDefinition, repoRoot: string): string {
  return isAbsolute(d.file!) ? d.file! : resolve(repoRoot, d.file!);
}

async function open(d: CsvDefinition, ctx: FetchContext): Promise<Readable> {
  if (d.url) return openDownload(d.url, ctx, d.timeoutMs);
  const path = csvPath(d, ctx.repoRoot);
  if (!existsSync(path)) throw remoteError(`source ${ctx.name}: ${path} does not exist`, 'check --file (relative paths are relative to the repository root)');
  // Small chunks: the records of one chunk are alive together, and fewer of them outlive a young-generation collection.
  return createReadStream(path, { highWaterMark: 16 * 1024 });
}

function parserOptions(d: CsvDefinition) {
  return {
    bom: true,
    columns: (header: string[]) => header.map((h) => h.trim()),
    info: true,
    delimiter: delimiterOf(d.delimiter),
    quote: d.quote ?? '"',
    encoding: (d.encoding ?? 'utf8') as BufferEncoding,
    skip_empty_lines: true,
    skip_records_with_error: true,
  } as const;
}

/** Records of a CSV source, one at a time. */
export async function* fetchCsv(d: CsvDefinition, ctx: FetchContext): AsyncGenerator<FetchedItem> {
  for await (const b of fetchCsvBatches(d, ctx)) yield* b.items;
}

/**
 * Records of a CSV source a chunk at a time, with the columns every record has (their values are
 * text). The fast reader (./csv-rows.ts) reads what it can; csv-parse reads the rest from where it
 * stopped, or the whole file when its options are not the fast reader's.
 */
export async function* fetchCsvBatches(d: CsvDefinition, ctx: FetchContext): AsyncGenerator<FetchedBatch> {
  yield* csvBatches(d, ctx, await open(d, ctx));
}

/** The records of `input` (the bytes of a CSV source), in batches; `input` is destroyed at the end. */
export async function* csvBatches(d: CsvDefinition, ctx: FetchContext, input: Readable): AsyncGenerator<FetchedBatch> {
  const chunks = input[Symbol.asyncIterator]() as AsyncIterator<Buffer | Uint8Array>;
  const onSkip = (err: Error & { lines?: number }) => {
    ctx.report.warn('malformed-row', { line: err.lines, message: err.message.replace(/\s+on line \d+$/, '') });
    ctx.report.skipped++;
    ctx.report.fetched++;
  };
  const counter = { position: 0 };
  let source: Readable | undefined;
  try {
    const delimiter = fastDelimiter(delimiterOf(d.delimiter), d.quote ?? '"', d.encoding ?? 'utf8');
    let handOver: HandOver = { columns: undefined, head: Buffer.alloc(0) };
    if (delimiter !== undefined) {
      const fast = new FastCsv(delimiter, onSkip);
      const done = yield* fastBatches(fast, chunks, ctx, counter);
      if (done) return;
      handOver = fast.handOver();
    }
    source = Readable.from(replay(handOver.head, chunks));
    yield* parsedBatches(d, ctx, source, handOver.columns, onSkip, counter);
  } catch (e) {
    throwIfAborted(ctx.signal);
    if ((e as { kind?: string }).kind) throw e; // already a SyncerError
    throw remoteError(`source ${ctx.name}: reading ${d.url ?? d.file} failed: ${(e as Error).message ?? e}`, undefined, e);
  } finally {
    source?.destroy();
    input.destroy();
  }
}

/** The fast reader's batches; true when it read the whole input, false when csv-parse must read the rest. */
async function* fastBatches(fast: FastCsv, chunks: AsyncIterator<Buffer | Uint8Array>, ctx: FetchContext, counter: { position: number }) {
  for (;;) {
    throwIfAborted(ctx.signal);
    const r = await chunks.next();
    const out: CsvRows = { records: [], lines: [] };
    const ok = fast.feed(r.done ? undefined : asBuffer(r.value), out);
    const items = out.records.map((record, i): FetchedItem => ({ record, line: out.lines[i]!, position: ++counter.position }));
    if (items.length) yield { items, columns: fast.columns };
    if (!ok) return false;
    if (r.done) return true;
  }
}

const asBuffer = (c: Buffer | Uint8Array) => (Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.byteLength));

/** `head`, then the rest of the input. */
async function* replay(head: Buffer, chunks: AsyncIterator<Buffer | Uint8Array>): AsyncGenerator<Buffer> {
  if (head.length) yield head;
  for (let r = await chunks.next(); !r.done; r = await chunks.next()) yield asBuffer(r.value);
}

/** csv-parse's records from `source`, in batches; with `columns`, the header has been read already. */
async function* parsedBatches(
  d: CsvDefinition,
  ctx: FetchContext,
  source: Readable,
  columns: string[] | undefined,
  onSkip: (err: Error & { lines?: number }) => void,
  counter: { position: number },
): AsyncGenerator<FetchedBatch> {
  const { parse } = await import('csv-parse');
  const parser = parse(columns ? { ...parserOptions(d), columns } : parserOptions(d));
  parser.on('skip', onSkip);
  let inputError: unknown;
  source.on('error', (e) => {
    inputError = e;
    parser.destroy(e);
  });
  source.pipe(parser);
  const keys = columns && [...new Set(columns)];
  const items: FetchedItem[] = [];
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: Rec; info: { lines: number } }>) {
      throwIfAborted(ctx.signal);
      items.push({ record, line: info.lines, position: ++counter.position });
      if (items.length >= 1000) yield { items: items.splice(0), columns: keys };
    }
  } catch (e) {
    throw inputError ?? e;
  }
  if (items.length) yield { items, columns: keys };
}

/**
 * A local CSV file as a destination: rows whose id is pushed are replaced, new ones appended,
 * columns widened as needed; the file is replaced atomically when the push closes. A record it
 * did not know gets the hub id as its id there.
 */
export async function csvDestination(d: CsvDefinition, ctx: PushContext): Promise<Destination> {
  if (d.url) throw usageError(`source ${ctx.name} reads a URL: a CSV destination must be a local --file`);
  const path = csvPath(d, ctx.repoRoot);
  const idField = ctx.idField;
  const pending = new Map<string, Rec>();
  return {
    batchSize: 1000,
    async send(batch: OutgoingRecord[]) {
      const ids = batch.map((r) => {
        const id = r.destId ?? r.hubId;
        pending.set(String(id), { ...toCsvShape(r.fields), [idField]: String(id) });
        return id;
      });
      return { ids };
    },
    async close() {
      if (pending.size === 0 || ctx.dryRun) return;
      const tmp = join(dirname(path), `.${basename(path)}.syncer-tmp-${process.pid}`);
      const columns = await upsertColumns(d, path, idField, pending);
      const w = new LineWriter(tmp);
      try {
        await writeUpserted(d, path, w, columns, idField, pending);
        await w.close();
        renameSync(tmp, path);
      } catch (e) {
        w.abandon();
        rmSync(tmp, { force: true });
        throw remoteError(`source ${ctx.name}: writing ${path} failed: ${(e as Error).message}`, undefined, e);
      }
    },
  };
}

/** The columns of the upserted file: the existing header (read alone: rows are streamed later), widened for the pending rows. */
async function upsertColumns(d: CsvDefinition, path: string, idField: string, pending: Map<string, Rec>): Promise<string[]> {
  let header: string[] = [];
  if (existsSync(path)) {
    const { parse } = await import('csv-parse');
    const p = createReadStream(path).pipe(parse({ ...parserOptions(d), to_line: 1, columns: false, info: false }));
    for await (const h of p as AsyncIterable<string[]>) header = h.map((x) => x.trim());
  }
  const columns = [...header];
  if (!columns.includes(idField)) columns.unshift(idField);
  for (const rec of pending.values()) for (const k of Object.keys(rec)) if (!columns.includes(k)) columns.push(k);
  return columns;
}

/**
 * The file with the `pending` rows upserted by id, into `w`: existing rows streamed through
 * (replaced when pending), the others appended.
 */
async function writeUpserted(d: CsvDefinition, path: string, w: LineWriter, columns: string[], idField: string, pending: Map<string, Rec>): Promise<void> {
  const { parse } = await import('csv-parse');
  const { stringify } = await import('csv-stringify/sync');
  const delimiter = delimiterOf(d.delimiter);
  const rows: string[][] = [];
  await w.write(stringify([columns], { delimiter }));
  if (existsSync(path)) {
    const p = createReadStream(path).pipe(parse({ ...parserOptions(d), skip_records_with_error: false }));
    for await (const { record } of p as AsyncIterable<{ record: Record<string, string> }>) {
      const id = idString(record[idField]);
      const replacement = id !== undefined ? pending.get(id) : undefined;
      if (id !== undefined) pending.delete(id);
      const row = replacement ? { ...record, ...replacement } : record;
      rows.push(columns.map((c) => String(row[c] ?? '')));
      if (rows.length >= 1000) await w.write(stringify(rows.splice(0), { delimiter }));
    }
  }
  for (const rec of pending.values()) rows.push(columns.map((c) => String(rec[c] ?? '')));
  await w.write(stringify(rows.splice(0), { delimiter }));
}
