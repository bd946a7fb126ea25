/**
 * PostgreSQL: a table or a query, read through a server-side cursor in batches (pg-cursor), with
 * the cursor value passed as a query parameter (`WHERE updated >= $1`), never spliced into SQL. As
 * a destination, a table is upserted by its id column (`INSERT ... ON CONFLICT DO UPDATE`), new
 * rows get their id from the table (`RETURNING`). Connect, statement and read deadlines keep a
 * database that is down or stuck from hanging a run; its failures are exit 4, a bad table, column
 * or query is exit 2.
 */
import type pg from 'pg';
import { SyncerError, interrupted, usageError } from '../../errors.js';
import {
  remoteError,
  secretFromEnv,
  throwIfAborted,
  type Destination,
  type FetchContext,
  type FetchedItem,
  type OutgoingRecord,
  type PushContext,
} from '../core/connector.js';
import type { PostgresDefinition } from '../core/definitions.js';
import { isPlainObject, type RunReport } from '../core/records.js';

const DEFAULT_TIMEOUT_MS = 30_000;
const READ_BATCH = 5_000;

/** "schema"."table" or "column", quoted. */
export function quoteIdent(name: string): string {
  return name
    .split('.')
    .map((p) => `"${p.replace(/"/g, '""')}"`)
    .join('.');
}

/** The SELECT a pull runs, and its parameters. */
export function selectSql(d: PostgresDefinition, cursorValue: string | number | undefined): { text: string; values: unknown[] } {
  const from = d.table ? quoteIdent(d.table) : `(${d.query!.trim().replace(/;\s*$/, '')}) AS syncer_source`;
  if (cursorValue !== undefined && d.updatedField) {
    return { text: `SELECT * FROM ${from} WHERE ${quoteIdent(d.updatedField)} >= $1`, values: [cursorValue] };
  }
  return { text: `SELECT * FROM ${from}`, values: [] };
}

/** Values as JSON keeps them: timestamps as the server's text (exact, microseconds included), int8 as numbers when safe. */
function typeParsers(types: typeof pg.types) {
  const raw = (v: string) => v;
  return {
    getTypeParser(oid: number, format?: string) {
      if (oid === 1114 || oid === 1184 || oid === 1082 || oid === 1083 || oid === 1266) return raw; // timestamp(tz), date, time(tz)
      if (oid === 20) return (v: string) => (Number.isSafeInteger(Number(v)) ? Number(v) : v); // int8
      return types.getTypeParser(oid, format as never);
    },
  };
}

export function pgError(e: unknown, what: string): SyncerError {
  if (e instanceof SyncerError) return e;
  const err = e as Error & { code?: string };
  const code = err?.code ?? '';
  const msg = err?.message ?? String(e);
  if (/^42/.test(code) && code !== '42501') return usageError(`${what}: ${msg}`, 'check the table, query and field names of the definition');
  if (code === '28P01' || code === '28000') {
    return remoteError(`${what}: the database refused the login: ${msg}`, 'check the user in --url and the password variable (passwordEnv, or PGPASSWORD)', e);
  }
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' || code === 'ENOENT') {
    return remoteError(`${what}: the database is unreachable (${code})`, 'check that PostgreSQL is running and --url', e);
  }
  if (code === '57014') return remoteError(`${what}: the statement timed out`, 'raise timeoutMs in the definition', e);
  return remoteError(`${what}: ${msg}`, undefined, e);
}

async function connect(
  d: PostgresDefinition,
  ctx: { env: NodeJS.ProcessEnv; name: string; signal: AbortSignal },
  statementTimeout: boolean,
): Promise<pg.Client> {
  const { default: pgLib } = await import('pg');
  const password = secretFromEnv(ctx.env, d.passwordEnv, `source ${ctx.name}`);
  const timeout = d.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  // pg lets the connection string's fields override `password`: put it into the URL, in memory only.
  let connectionString = d.url;
  if (password !== undefined) {
    const u = new URL(d.url);
    u.password = encodeURIComponent(password);
    connectionString = u.toString();
  }
  const client = new pgLib.Client({
    connectionString,
    connectionTimeoutMillis: timeout,
    ...(statementTimeout ? { statement_timeout: timeout } : {}),
    application_name: `syncer source ${ctx.name}`.slice(0, 63),
    types: typeParsers(pgLib.types),
  });
  // A connection that dies between queries emits 'error' on the client: the next query fails
  // with it; without a listener it would crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (e) {
    await client.end().catch(() => undefined);
    throw pgError(e, `source ${ctx.name}: connecting to the database`);
  }
  return client;
}

/** Wait for `p` (ignoring its failure), at most `ms`. */
function settle(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<void>((r) => (timer = setTimeout(r, ms)));
  return Promise.race([
    p.then(
      () => undefined,
      () => undefined,
    ),
    expiry,
  ]).finally(() => clearTimeout(timer));
}

/** A promise with a deadline: on expiry the connection is torn down (which fails the promise too). */
async function deadline<T>(p: Promise<T>, ms: number, onExpire: () => void, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  let expired = false;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          expired = true;
          onExpire();
          reject(remoteError(`${what}: no rows for ${ms} ms`, 'raise timeoutMs in the definition if the query is slow'));
        }, ms);
      }),
    ]);
  } catch (e) {
    if (expired) throw remoteError(`${what}: no rows for ${ms} ms`, 'raise timeoutMs in the definition if the query is slow', e);
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Reads of a server-side cursor that fail when the connection is cut: a cut (server gone, backend
 * terminated) does not always fail a pending cursor read, so it is failed from the client's own events.
 */
function cursorReads(client: pg.Client, cursor: { read(n: number): Promise<Record<string, unknown>[]> }) {
  let broken: Error | undefined;
  let fail: ((e: Error) => void) | undefined;
  client.on('error', (e) => {
    broken ??= e;
    fail?.(broken);
  });
  client.on('end', () => {
    broken ??= new Error('the connection to the database ended');
    fail?.(broken);
  });
  const read = () =>
    new Promise<Record<string, unknown>[]>((resolve, reject) => {
      if (broken) return reject(broken);
      fail = reject;
      cursor.read(READ_BATCH).then(resolve, reject);
    });
  return { read, broken: () => broken };
}

export async function* fetchPostgres(d: PostgresDefinition, ctx: FetchContext): AsyncGenerator<FetchedItem> {
  const client = await connect(d, ctx, false);
  const { default: Cursor } = await import('pg-cursor');
  const onAbort = () => void client.end().catch(() => undefined);
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  const what = `source ${ctx.name}: reading ${d.table ? `table ${d.table}` : 'the query'}`;
  const timeout = d.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const sql = selectSql(d, ctx.cursor?.value);
  ctx.debug(`${what}: ${sql.text} ${JSON.stringify(sql.values)}`);
  const cursor = client.query(new Cursor(sql.text, sql.values));
  const reads = cursorReads(client, cursor);
  let position = 0;
  try {
    for (;;) {
      let rows: Record<string, unknown>[];
      try {
        rows = await deadline(reads.read(), timeout, () => void client.end().catch(() => undefined), what);
      } catch (e) {
        throwIfAborted(ctx.signal);
        throw pgError(e, what);
      }
      if (rows.length === 0) break;
      for (const record of rows) {
        if (ctx.signal.aborted) throw interrupted();
        yield { record, position: ++position };
      }
    }
  } finally {
    ctx.signal.removeEventListener('abort', onAbort);
    // Closing a cursor waits for the server's readyForQuery, which a dead connection never sends.
    if (!reads.broken()) await settle(cursor.close(), 2000);
    await settle(client.end(), 2000);
  }
}

/** The columns of the destination table; exit 2 when there is no such table or it has no id column. */
async function tableColumns(client: pg.Client, table: string, what: string, idField: string): Promise<Set<string>> {
  let columns: Set<string>;
  try {
    const [schema, name] = table.includes('.') ? table.split('.') : [undefined, table];
    const r = await client.query<{ column_name: string }>(
      'SELECT column_name FROM information_schema.columns WHERE table_schema = coalesce($1, current_schema()) AND table_name = $2',
      [schema ?? null, name],
    );
    columns = new Set(r.rows.map((x) => x.column_name));
  } catch (e) {
    await client.end().catch(() => undefined);
    throw pgError(e, what);
  }
  if (columns.size === 0) {
    await client.end().catch(() => undefined);
    throw usageError(`${what}: no table ${table}`, 'check --table');
  }
  if (!columns.has(idField)) {
    await client.end().catch(() => undefined);
    throw usageError(`${what}: the table has no id column ${idField}`, 'set --id-field to its primary key');
  }
  return columns;
}

/** The table a push writes, and what it learnt about it. */
interface TableWriter {
  client: pg.Client;
  table: string;
  what: string;
  idField: string;
  columns: Set<string>;
  /** Fields the table has no column for (reported once each). */
  dropped: Set<string>;
  report: RunReport;
}

const columnValue = (v: unknown) => (isPlainObject(v) || Array.isArray(v) ? JSON.stringify(v) : v);

/** The columns and values a record sets: fields the table has no column for are dropped (reported once); a new record leaves the id to the table. */
function rowValues(w: TableWriter, r: OutgoingRecord): { cols: string[]; vals: unknown[] } {
  const cols: string[] = [];
  const vals: unknown[] = [];
  for (const [k, v] of Object.entries(r.fields)) {
    if (!w.columns.has(k)) {
      if (!w.dropped.has(k)) {
        w.dropped.add(k);
        w.report.warn('unknown-field', { message: `table ${w.table} has no column ${k}: not sent` });
      }
      continue;
    }
    if (k === w.idField && r.destId === undefined) continue;
    cols.push(k);
    vals.push(columnValue(v));
  }
  return { cols, vals };
}

/** INSERT (a new record) or INSERT ... ON CONFLICT DO UPDATE (a known one), returning the row's id. */
function upsertSql(table: string, idField: string, cols: string[], known: boolean): string {
  const returning = `RETURNING ${quoteIdent(idField)} AS id`;
  if (cols.length === 0) return `INSERT INTO ${quoteIdent(table)} DEFAULT VALUES ${returning}`;
  const ph = cols.map((_, i) => `$${i + 1}`).join(', ');
  const insert = `INSERT INTO ${quoteIdent(table)} (${cols.map(quoteIdent).join(', ')}) VALUES (${ph})`;
  if (!known) return `${insert} ${returning}`;
  const updates = cols.filter((c) => c !== idField).map((c) => `${quoteIdent(c)} = EXCLUDED.${quoteIdent(c)}`);
  return `${insert} ON CONFLICT (${quoteIdent(idField)}) DO ${updates.length ? `UPDATE SET ${updates.join(', ')}` : 'NOTHING'} ${returning}`;
}

/** One record, in its own savepoint: its id in the table, or undefined when the table refused it (reported). */
async function upsertRow(w: TableWriter, r: OutgoingRecord): Promise<string | number | undefined> {
  const { cols, vals } = rowValues(w, r);
  const text = upsertSql(w.table, w.idField, cols, r.destId !== undefined);
  await w.client.query('SAVEPOINT syncer_row');
  try {
    const res = await w.client.query<{ id: string | number }>(text, vals);
    await w.client.query('RELEASE SAVEPOINT syncer_row');
    return res.rows[0]?.id ?? r.destId;
  } catch (e) {
    const code = (e as { code?: string }).code ?? '';
    // Data the table refuses (class 22 data exception, 23 integrity): skip the row, go on.
    if (/^2[23]/.test(code)) {
      await w.client.query('ROLLBACK TO SAVEPOINT syncer_row');
      w.report.warn('rejected', { id: r.hubId, message: (e as Error).message });
      return undefined;
    }
    if (code === '42P10') {
      throw usageError(`${w.what}: ${w.idField} has no unique constraint, so rows cannot be upserted by it`, 'add a primary key or unique index on it');
    }
    throw e;
  }
}

/**
 * A table as a destination. Fields the table has no column for are dropped (reported once per
 * field); a row the table refuses (a constraint, a type) is skipped and reported; a batch is one
 * transaction, each row in its own savepoint.
 */
export async function postgresDestination(d: PostgresDefinition, ctx: PushContext): Promise<Destination> {
  if (!d.table) throw usageError(`source ${ctx.name} reads a query: push needs a --table`);
  const client = await connect(d, ctx, true);
  const what = `source ${ctx.name}: writing table ${d.table}`;
  const columns = await tableColumns(client, d.table, what, ctx.idField);
  const w: TableWriter = { client, table: d.table, what, idField: ctx.idField, columns, dropped: new Set(), report: ctx.report };
  const onAbort = () => void client.end().catch(() => undefined);
  ctx.signal.addEventListener('abort', onAbort, { once: true });
  return {
    batchSize: d.batchSize ?? 500,
    async send(batch) {
      try {
        await client.query('BEGIN');
        const ids: (string | number | undefined)[] = [];
        for (const r of batch) {
          throwIfAborted(ctx.signal);
          ids.push(await upsertRow(w, r));
        }
        await client.query('COMMIT');
        return { ids };
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throwIfAborted(ctx.signal);
        throw pgError(e, what);
      }
    },
    async close() {
      ctx.signal.removeEventListener('abort', onAbort);
      await settle(client.end(), 2000);
    },
  };
}
