/**
 * CSV: a local file or an http(s) URL, streamed through csv-parse (header row, quoting, BOM, any
 * delimiter), so a million rows never sit in memory. A row that does not fit the header is skipped
 * and reported with its line number. As a destination, a local CSV file is upserted by id.
 */
import { createReadStream, existsSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
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
  return createReadStream(path);
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

export async function* fetchCsv(d: CsvDefinition, ctx: FetchContext): AsyncGenerator<FetchedItem> {
  const { parse } = await import('csv-parse');
  const input = await open(d, ctx);
  const parser = parse(parserOptions(d));
  parser.on('skip', (err: Error & { lines?: number }) => {
    ctx.report.warn('malformed-row', { line: err.lines, message: err.message.replace(/\s+on line \d+$/, '') });
    ctx.report.skipped++;
    ctx.report.fetched++;
  });
  let inputError: unknown;
  input.on('error', (e) => {
    inputError = e;
    parser.destroy(e);
  });
  input.pipe(parser);
  let position = 0;
  try {
    for await (const { record, info } of parser as AsyncIterable<{ record: Rec; info: { lines: number } }>) {
      throwIfAborted(ctx.signal);
      yield { record, line: info.lines, position: ++position };
    }
  } catch (e) {
    throwIfAborted(ctx.signal);
    const cause = inputError ?? e;
    if ((cause as { kind?: string }).kind) throw cause; // already a SyncerError
    throw remoteError(`source ${ctx.name}: reading ${d.url ?? d.file} failed: ${(cause as Error).message ?? cause}`, undefined, cause);
  } finally {
    input.destroy();
  }
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
