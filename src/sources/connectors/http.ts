/**
 * HTTP: a JSON API paged by start/limit, page/limit or a next link, and a destination that takes
 * POSTed batches. Every request has a deadline (AbortSignal.timeout), and 429/5xx answers and
 * network failures are retried a bounded number of times with exponential backoff (honouring
 * Retry-After, capped), so a flaky API recovers and a dead one fails (exit 4) in bounded time.
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { interrupted } from '../../errors.js';
import { waitOrInterrupt } from '../../adapters/wait.js';
import { envKnob } from '../../config/resolve.js';
import {
  atPath,
  remoteError,
  secretFromEnv,
  throwIfAborted,
  type Destination,
  type FetchContext,
  type FetchedItem,
  type OutgoingRecord,
  type PushContext,
} from '../core/connector.js';
import type { HttpDefinition } from '../core/definitions.js';
import { idString } from '../core/records.js';

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_RETRIES = 4;
const MAX_DELAY_MS = 30_000;
const MAX_PAGES = 1_000_000;

export interface RequestOptions {
  timeoutMs: number;
  retries: number;
  signal: AbortSignal;
  what: string;
  debug: (m: string) => void;
  /** Base of the exponential backoff (tests lower it through SYNCER_HTTP_BACKOFF_MS). */
  backoffMs?: number;
}

/** Delay before retry number `attempt` (0-based): Retry-After when given (seconds or a date), else 2^n backoff with jitter. */
export function retryDelay(attempt: number, retryAfter: string | null, baseMs: number, now = Date.now()): number {
  if (retryAfter) {
    const secs = Number(retryAfter);
    const ms = Number.isFinite(secs) ? secs * 1000 : Date.parse(retryAfter) - now;
    if (Number.isFinite(ms)) return Math.min(Math.max(0, ms), MAX_DELAY_MS);
  }
  const exp = Math.min(baseMs * 2 ** attempt, MAX_DELAY_MS);
  return Math.round(exp / 2 + (Math.random() * exp) / 2);
}

const retryable = (status: number) => status === 429 || status >= 500;

function describeFailure(e: unknown): string {
  const err = e as Error & { cause?: { code?: string; message?: string } };
  if (err?.name === 'TimeoutError') return 'timed out';
  const code = err?.cause?.code;
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET' || code === 'UND_ERR_SOCKET') return 'connection lost';
  if (code === 'ENOTFOUND') return 'host not found';
  return err?.cause?.message ?? err?.message ?? String(e);
}

/**
 * One request with retries. `read` consumes the body inside the same deadline and is retried
 * with the request (a page is all or nothing); without it the response is returned as soon as
 * its headers arrive (for streaming) and only the connection and status are retried.
 */
export async function request<T>(
  url: string,
  init: RequestInit,
  o: RequestOptions,
  read?: (res: Response) => Promise<T>,
): Promise<{ res: Response; value: T | undefined }> {
  let last = '';
  const base = o.backoffMs ?? 500;
  for (let attempt = 0; ; attempt++) {
    throwIfAborted(o.signal);
    let retryAfter: string | null = null;
    // With `read`, the deadline covers the body; without, only the wait for the headers (the
    // caller guards the streamed body with its own stall deadline).
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new DOMException(`no answer in ${o.timeoutMs} ms`, 'TimeoutError')), o.timeoutMs);
    try {
      const res = await fetch(url, { ...init, signal: AbortSignal.any([o.signal, deadline.signal]), redirect: 'follow' });
      if (!read) clearTimeout(timer);
      if (res.ok) {
        const value = read ? await read(res) : undefined;
        return { res, value };
      }
      retryAfter = res.headers.get('retry-after');
      const text = (await res.text().catch(() => '')).slice(0, 200).replace(/\s+/g, ' ');
      last = `HTTP ${res.status}${text ? `: ${text}` : ''}`;
      if (!retryable(res.status)) throw new HttpStatusError(res.status, `${o.what}: ${last}`);
    } catch (e) {
      if (o.signal.aborted) throw interrupted();
      if (e instanceof HttpStatusError || e instanceof BodyError) throw e;
      last = describeFailure(e);
    } finally {
      clearTimeout(timer);
    }
    if (attempt >= o.retries) {
      const hint = 'check that the service is up; raise timeoutMs or retries in the definition for slow services';
      throw remoteError(`${o.what} failed after ${attempt + 1} attempt(s): ${last}`, hint);
    }
    const delay = retryDelay(attempt, retryAfter, base);
    o.debug(`${o.what}: ${last}; retry ${attempt + 1}/${o.retries} in ${delay} ms`);
    await waitOrInterrupt(delay, o.signal);
  }
}

/** A non-retryable HTTP status (4xx other than 429). */
export class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A body that is not what we expect (not JSON, no records array): not retried. */
class BodyError extends Error {}

function withParams(url: string, params: Record<string, string | number | undefined>): string {
  const u = new URL(url);
  for (const [k, v] of Object.entries(params)) if (v !== undefined) u.searchParams.set(k, String(v));
  return u.toString();
}

function recordsOf(body: unknown, path: string | undefined): unknown[] | undefined {
  if (path) {
    const v = atPath(body, path);
    return Array.isArray(v) ? v : undefined;
  }
  if (Array.isArray(body)) return body;
  for (const k of ['records', 'data', 'items', 'results']) {
    const v = atPath(body, k);
    if (Array.isArray(v)) return v;
  }
  return undefined;
}

function nextLink(body: unknown, headers: Headers, path: string | undefined, current: string): string | undefined {
  let next: unknown = path ? atPath(body, path) : undefined;
  if (typeof next !== 'string' || next === '') {
    const link = headers.get('link');
    const m = link ? /<([^>]+)>\s*;[^,]*rel="?next"?/i.exec(link) : null;
    next = m?.[1];
  }
  if (typeof next !== 'string' || next === '') return undefined;
  return new URL(next, current).toString();
}

export function httpOptions(
  d: HttpDefinition | { timeoutMs?: number; retries?: number },
  env: NodeJS.ProcessEnv,
  signal: AbortSignal,
  what: string,
  debug: (m: string) => void,
): RequestOptions {
  const backoff = envKnob(env, 'SYNCER_HTTP_BACKOFF_MS'); // bounded, exit 2; unset: the default backoff
  return {
    timeoutMs: d.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    retries: (d as HttpDefinition).retries ?? DEFAULT_RETRIES,
    signal,
    what,
    debug,
    backoffMs: backoff,
  };
}

function headersFor(d: HttpDefinition, env: NodeJS.ProcessEnv, name: string): Record<string, string> {
  const token = secretFromEnv(env, d.tokenEnv, `source ${name}`);
  return { accept: 'application/json', 'user-agent': 'syncer', ...(token ? { authorization: `Bearer ${token}` } : {}) };
}

async function readJson(res: Response): Promise<unknown> {
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    throw new BodyError(`the response is not JSON (${text.slice(0, 80).replace(/\s+/g, ' ')}...)`);
  }
}

interface PagePosition {
  offset: number;
  page: number;
  /** The cursor as a query parameter (sinceParam), or nothing. */
  since: Record<string, string | number>;
}

/** The URL of page `n` (from 0): the definition's URL with the paging parameters, or the next link the previous page gave. */
function pageTarget(d: HttpDefinition, at: PagePosition, n: number, url: string): string {
  const paging = d.paging ?? 'none';
  const size = d.pageSize ?? 100;
  const limit = d.limitParam ?? 'limit';
  if (paging === 'start') return withParams(d.url, { ...at.since, [d.startParam ?? 'start']: at.offset, [limit]: size });
  if (paging === 'page') return withParams(d.url, { ...at.since, [d.pageParam ?? 'page']: at.page, [limit]: size });
  if (paging === 'next' && n > 0) return url;
  return withParams(d.url, { ...at.since, ...(paging === 'next' && d.pageSize ? { [limit]: size } : {}) });
}

/** One page's JSON body and headers; its failures as exit 4. */
async function getPage(d: HttpDefinition, ctx: FetchContext, headers: Record<string, string>, target: string, what: string) {
  try {
    const r = await request(target, { headers }, httpOptions(d, ctx.env, ctx.signal, what, ctx.debug), readJson);
    return { body: r.value, headers: r.res.headers };
  } catch (e) {
    if (e instanceof HttpStatusError) {
      throw remoteError(e.message, e.status === 401 || e.status === 403 ? `check the token (${d.tokenEnv ?? 'tokenEnv is not set'})` : undefined, e);
    }
    if (e instanceof BodyError) throw remoteError(`${what}: ${e.message}`, undefined, e);
    throw e;
  }
}

/** The records of a page's body. */
function pageRecords(d: HttpDefinition, ctx: FetchContext, body: unknown, what: string): unknown[] {
  const records = recordsOf(body, d.recordsPath);
  if (!records) {
    const at = d.recordsPath ? ` at ${d.recordsPath}` : '';
    throw remoteError(`${what}: no records array in the response${at}`, 'set --records-path to where the records are (a dot path)');
  }
  ctx.debug(`${what}: ${records.length} record(s)`);
  return records;
}

/** An API that ignores the paging parameters would send the same page forever: refuse a full page that starts as the previous one did. */
function refuseSamePage(d: HttpDefinition, name: string, records: unknown[], previousFirst: string | undefined): string | undefined {
  const paging = d.paging ?? 'none';
  const first = records.length ? JSON.stringify(records[0]) : undefined;
  if ((paging === 'start' || paging === 'page') && records.length >= (d.pageSize ?? 100) && first !== undefined && first === previousFirst) {
    const params = `${paging === 'start' ? (d.startParam ?? 'start') : (d.pageParam ?? 'page')}/${d.limitParam ?? 'limit'}`;
    throw remoteError(`source ${name}: the API returned the same page twice; does it honour ${params}?`, 'check --paging and the parameter names');
  }
  return first;
}

/** Records of a paged JSON API, page by page. */
export async function* fetchHttp(d: HttpDefinition, ctx: FetchContext): AsyncGenerator<FetchedItem> {
  const headers = headersFor(d, ctx.env, ctx.name);
  const paging = d.paging ?? 'none';
  const size = d.pageSize ?? 100;
  const at: PagePosition = { offset: 0, page: d.firstPage ?? 1, since: ctx.cursor && d.sinceParam ? { [d.sinceParam]: ctx.cursor.value } : {} };
  let position = 0;
  let url: string | undefined = d.url;
  const seen = new Set<string>();
  let previousFirst: string | undefined;
  for (let n = 0; n < MAX_PAGES && url; n++) {
    const target = pageTarget(d, at, n, url);
    if (seen.has(target)) throw remoteError(`source ${ctx.name}: the API sent page ${target} twice (a paging loop)`);
    seen.add(target);
    const what = `source ${ctx.name}: GET ${redact(target)}`;
    const { body, headers: resHeaders } = await getPage(d, ctx, headers, target, what);
    const records = pageRecords(d, ctx, body, what);
    previousFirst = refuseSamePage(d, ctx.name, records, previousFirst);
    for (const record of records) {
      throwIfAborted(ctx.signal);
      yield { record, position: ++position };
    }
    if (paging === 'none') break;
    if (paging === 'next') {
      url = nextLink(body, resHeaders, d.nextPath, target);
      continue;
    }
    if (records.length < size || records.length === 0) break;
    at.offset += records.length;
    at.page += 1;
  }
}

const redact = (u: string) => u.replace(/^([a-z]+:\/\/)[^/@]*@/i, '$1***@');

/** A CSV or other download as a stream: retried until the headers arrive, then guarded by a stall deadline. */
export async function openDownload(
  url: string,
  ctx: { env: NodeJS.ProcessEnv; signal: AbortSignal; debug: (m: string) => void; name: string },
  timeoutMs?: number,
): Promise<Readable> {
  const controller = new AbortController();
  const signal = AbortSignal.any([ctx.signal, controller.signal]);
  const o = httpOptions({ timeoutMs }, ctx.env, signal, `source ${ctx.name}: GET ${redact(url)}`, ctx.debug);
  let res: Response;
  try {
    res = (await request(url, { headers: { 'user-agent': 'syncer' } }, o)).res;
  } catch (e) {
    if (e instanceof HttpStatusError) throw remoteError(e.message, undefined, e);
    throw e;
  }
  if (!res.body) throw remoteError(`${o.what}: empty response`);
  const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream);
  let timer: NodeJS.Timeout | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      body.destroy(remoteError(`${o.what}: no data for ${o.timeoutMs} ms`));
      controller.abort();
    }, o.timeoutMs);
  };
  arm();
  body.on('data', arm);
  body.on('close', () => clearTimeout(timer));
  body.on('error', () => clearTimeout(timer));
  return body;
}

/**
 * A destination that takes POSTed batches: a JSON array of records (with the destination's id
 * field when it knows the record), answered with the records or their ids in the same order.
 * Every batch carries an Idempotency-Key, so a retried POST can be recognised by the service.
 */
export async function httpDestination(d: HttpDefinition, ctx: PushContext): Promise<Destination> {
  const headers = { ...headersFor(d, ctx.env, ctx.name), 'content-type': 'application/json' };
  const url = d.pushUrl ?? d.url;
  return {
    batchSize: d.batchSize ?? 100,
    async send(batch: OutgoingRecord[]) {
      const what = `source ${ctx.name}: POST ${redact(url)}`;
      const body = await postBatch(d, ctx, url, headers, batch, what);
      if (body === REFUSED) return { ids: batch.map(() => undefined) };
      return { ids: assignedIds(d, body, batch, what, ctx.idField) };
    },
    async close() {},
  };
}

const REFUSED = Symbol('refused');

/** POST one batch; REFUSED when the service refused its records (reported), exit 4 when it failed. */
async function postBatch(d: HttpDefinition, ctx: PushContext, url: string, headers: Record<string, string>, batch: OutgoingRecord[], what: string) {
  const payload = JSON.stringify(batch.map((r) => r.fields));
  const key = createHash('sha256').update(`${ctx.name}\n${payload}`).digest('hex').slice(0, 32);
  const init = { method: 'POST', headers: { ...headers, 'idempotency-key': key }, body: payload };
  try {
    return (await request(url, init, httpOptions(d, ctx.env, ctx.signal, what, ctx.debug), readJson)).value;
  } catch (e) {
    if (e instanceof HttpStatusError && e.status >= 400 && e.status < 500 && e.status !== 401 && e.status !== 403 && e.status !== 404) {
      // The service refused these records (400, 409, 422): report them, go on with the others.
      for (const r of batch) ctx.report.warn('rejected', { id: r.hubId, message: e.message });
      return REFUSED;
    }
    if (e instanceof HttpStatusError || e instanceof BodyError) throw remoteError(e instanceof BodyError ? `${what}: ${e.message}` : e.message, undefined, e);
    throw e;
  }
}

/** The ids a push response gives, in the order sent (the id already known when it gives none). */
function assignedIds(d: HttpDefinition, body: unknown, batch: OutgoingRecord[], what: string, idField: string): (string | number | undefined)[] {
  const list = d.pushIdsPath ? atPath(body, d.pushIdsPath) : Array.isArray(body) ? body : (recordsOf(body, undefined) ?? atPath(body, 'ids'));
  if (!Array.isArray(list) || list.length !== batch.length) {
    const at = d.pushIdsPath ? ` at ${d.pushIdsPath}` : '';
    const got = Array.isArray(list) ? list.length : 'none';
    const hint = 'set --push-ids-path to where the response lists the ids';
    throw remoteError(`${what}: expected ${batch.length} ids or records in the response${at}, got ${got}`, hint);
  }
  return list.map((x, i) => {
    const v = x !== null && typeof x === 'object' ? (x as Record<string, unknown>)[idField] : x;
    return idString(v) !== undefined ? (v as string | number) : batch[i]!.destId;
  });
}
