/**
 * etcd's own HTTP/JSON API (the grpc-gateway every v3.4+ member serves on its client URL), spoken
 * with node:http(s) alone: a gRPC client costs every command ~250 ms of imports (grpc-js, and
 * proto-loader parsing .proto files) before its first request. Keys and values travel as base64,
 * 64-bit integers as decimal strings; errors come back as {"error", "code" (a gRPC code), "message"}.
 *
 * Requests fail over across the members, each attempt under its own deadline. A member that ran
 * into its deadline (frozen, or cut off silently) is tried last for a minute, so later calls do not
 * pay the same deadline on it again. The auth token is fetched on first use and fetched again once
 * when etcd says it expired.
 */
import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { SecureContext } from 'node:tls';

/** gRPC codes of failures another attempt (on another member) may not meet: etcd3's recoverable ones. */
const RECOVERABLE_CODES = new Set([1, 2, 4, 8, 10, 13, 14]);
/** How long a member that ran into its deadline goes to the back of the line. */
const SKIP_MS = 60_000;
/** Before trying a member a second time within one call. */
const BACKOFF_MS = 100;

/** A failed request: etcd's own message (and gRPC code), or Node's socket / TLS error. */
export class EtcdWireError extends Error {
  /** The gRPC status code etcd answered with (none for socket, TLS and deadline failures). */
  readonly grpcCode?: number;
  /** Worth another attempt on another member. */
  readonly recoverable: boolean;
  /** The member did not answer within the attempt's deadline. */
  readonly deadline: boolean;

  constructor(message: string, options: { grpcCode?: number; recoverable?: boolean; deadline?: boolean; cause?: unknown } = {}) {
    super(message, { cause: options.cause });
    this.name = 'EtcdWireError';
    this.grpcCode = options.grpcCode;
    this.recoverable = options.recoverable ?? false;
    this.deadline = options.deadline ?? false;
  }
}

/** One member's client URL, split for node:http. */
export interface Endpoint {
  url: string;
  tls: boolean;
  hostname: string;
  port: number;
}

export interface WireOptions {
  hosts: string[];
  /** TLS settings (CA, client certificate); the system CAs when unset. */
  secureContext?: SecureContext;
  username?: string;
  password?: string;
  /** The deadline of one attempt (one member). */
  perAttemptMs: number;
  /** Attempts per request, across the members. */
  attempts: number;
}

/** An open response stream (watch): close() ends it without calling its `end` handler. */
export interface WireStream {
  close(): void;
}

export type Json = Record<string, unknown>;

function endpoint(host: string): Endpoint {
  const u = new URL(host);
  const tls = u.protocol === 'https:';
  // node:http wants an IPv6 address without its brackets.
  return { url: host, tls, hostname: u.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(u.port) || (tls ? 443 : 80) };
}

/** Node's socket or TLS error as a wire error; its code is kept in the text for the error mapping. */
function socketError(e: unknown, host: Endpoint): EtcdWireError {
  if (e instanceof EtcdWireError) return e;
  const err = e as NodeJS.ErrnoException;
  const code = typeof err.code === 'string' && !err.message.includes(err.code) && /^E[A-Z]+$/.test(err.code) ? ` (${err.code})` : '';
  return new EtcdWireError(`${err.message}${code} [${host.url}]`, { recoverable: true, cause: e });
}

const isStaleToken = (e: unknown) => e instanceof EtcdWireError && /invalid auth token|auth token is expired/i.test(e.message);

/** An error answer of the gateway: unary {"error": text, "code"}; in a stream {"error": {"grpc_code", "message"}}. */
function answerError(status: number | undefined, body: unknown, text: string, host: Endpoint): EtcdWireError {
  const b = (body ?? {}) as { error?: unknown; code?: unknown; message?: unknown };
  const inner = typeof b.error === 'object' && b.error !== null ? (b.error as { grpc_code?: unknown; message?: unknown }) : undefined;
  const message = inner ? inner.message : (b.error ?? b.message);
  const code = Number(inner ? inner.grpc_code : b.code);
  if (typeof message === 'string' && message !== '') {
    return new EtcdWireError(message, { grpcCode: code, recoverable: RECOVERABLE_CODES.has(code) });
  }
  // Not etcd speaking (a proxy, or a TLS port asked in plain http): maybe another member answers.
  const line = text.split('\n')[0]!.trim().slice(0, 200);
  return new EtcdWireError(`HTTP ${status} from ${host.url}${line ? `: ${line}` : ''}`, { recoverable: true });
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A unary answer; the stream endpoints used as unary (lease keep-alive) wrap theirs in "result". */
function unaryAnswer(res: IncomingMessage, text: string, host: Endpoint): Json {
  const body = parseJson(text.split('\n')[0]!) as Json | undefined;
  if (res.statusCode !== 200 || !body || typeof body !== 'object' || 'error' in body) throw answerError(res.statusCode, body, text, host);
  return (typeof body.result === 'object' && body.result !== null ? body.result : body) as Json;
}

function readBody(res: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    res.on('error', reject);
    res.on('close', () => reject(new Error('the connection closed before the answer was complete')));
  });
}

export class EtcdWire {
  readonly endpoints: Endpoint[];
  readonly perAttemptMs: number;
  private readonly attempts: number;
  private readonly agent: HttpAgent;
  private readonly username?: string;
  private readonly password: string;
  private token?: Promise<string>;
  /** The member that answered last: asked first (its connection is open). */
  private preferred = 0;
  private readonly skippedUntil = new Map<string, number>();
  private readonly open = new Set<ClientRequest>();
  private closed = false;

  constructor(options: WireOptions) {
    this.endpoints = options.hosts.map(endpoint);
    this.perAttemptMs = options.perAttemptMs;
    this.attempts = options.attempts;
    this.username = options.username;
    this.password = options.password ?? '';
    // Keep-alive: a command's requests share one connection per member (no handshake each time).
    const tls = this.endpoints.some((e) => e.tls);
    this.agent = tls ? new HttpsAgent({ keepAlive: true, secureContext: options.secureContext }) : new HttpAgent({ keepAlive: true });
  }

  /** One request, failing over across the members, with the auth token when a user is set. */
  unary(path: string, body: Json): Promise<Json> {
    return this.authed((token) => this.failover((host) => this.post(host, path, body, token)));
  }

  /** Run `fn` with the auth token (none without a user); once more with a new token if etcd says it expired. */
  async authed<T>(fn: (token: string | undefined) => Promise<T>): Promise<T> {
    if (this.username === undefined) return fn(undefined);
    const token = await this.currentToken();
    try {
      return await fn(token);
    } catch (e) {
      if (!isStaleToken(e)) throw e;
      if (this.token && (await this.token.catch(() => undefined)) === token) this.token = undefined;
      return fn(await this.currentToken());
    }
  }

  private currentToken(): Promise<string> {
    if (!this.token) {
      const body = { name: this.username, password: this.password };
      const token = this.failover((host) => this.post(host, '/v3/auth/authenticate', body)).then((r) => String(r.token ?? ''));
      // A failed authentication is not remembered: the next call asks again.
      token.catch(() => {
        if (this.token === token) this.token = undefined;
      });
      this.token = token;
    }
    return this.token;
  }

  /** The members in the order to try them: the last one that answered, the others, then the skipped ones. */
  order(): Endpoint[] {
    const now = Date.now();
    const rotated = [...this.endpoints.slice(this.preferred), ...this.endpoints.slice(0, this.preferred)];
    const skipped = (e: Endpoint) => (this.skippedUntil.get(e.url) ?? 0) > now;
    return [...rotated.filter((e) => !skipped(e)), ...rotated.filter(skipped)];
  }

  /** Remember how `host` did: an answer makes it the first to ask, a deadline the last. */
  noteResult(host: Endpoint, e?: unknown): void {
    if (e === undefined) {
      this.preferred = this.endpoints.indexOf(host);
      this.skippedUntil.delete(host.url);
    } else if (e instanceof EtcdWireError && e.deadline) {
      this.skippedUntil.set(host.url, Date.now() + SKIP_MS);
    }
  }

  /** `fn` against one member after another, while the failures are recoverable; the last failure otherwise. */
  async failover<T>(fn: (host: Endpoint) => Promise<T>): Promise<T> {
    const order = this.order();
    let last: unknown;
    for (let i = 0; i < Math.max(this.attempts, 1); i++) {
      if (i >= order.length) await this.pause(BACKOFF_MS);
      const host = order[i % order.length]!;
      try {
        const result = await fn(host);
        this.noteResult(host);
        return result;
      } catch (e) {
        last = e;
        this.noteResult(host, e);
        if (!(e instanceof EtcdWireError && e.recoverable) || this.closed) throw e;
      }
    }
    throw last;
  }

  private pause(ms: number): Promise<void> {
    return new Promise((r) => setTimeout(r, ms));
  }

  private request(host: Endpoint, method: string, path: string, token?: string): ClientRequest {
    if (this.closed) throw new EtcdWireError('the etcd client was closed');
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token) headers.authorization = token;
    const options = { hostname: host.hostname, port: host.port, method, path, headers, agent: this.agent };
    const req = host.tls ? httpsRequest(options) : httpRequest(options);
    this.open.add(req);
    req.on('close', () => this.open.delete(req));
    return req;
  }

  /** One attempt against one member, within `timeoutMs`: the answer's JSON, or a wire error. */
  post(host: Endpoint, path: string, body: Json, token?: string, timeoutMs = this.perAttemptMs): Promise<Json> {
    return new Promise<Json>((resolve, reject) => {
      const req = this.request(host, 'POST', path, token);
      const timer = setTimeout(() => {
        req.destroy(new EtcdWireError(`no answer within ${timeoutMs} ms from ${host.url}`, { recoverable: true, deadline: true }));
      }, timeoutMs);
      req.on('close', () => clearTimeout(timer));
      req.on('error', (e) => reject(socketError(e, host)));
      req.on('response', (res) => {
        readBody(res).then(
          (text) => {
            try {
              resolve(unaryAnswer(res, text, host));
            } catch (e) {
              reject(e);
            }
          },
          (e) => reject(socketError(e, host)),
        );
      });
      req.end(JSON.stringify(body));
    });
  }

  /**
   * A streaming request (watch) to one member: `message` gets each JSON message's result, `end`
   * the reason the stream stopped (an error answer, a closed connection), at most once.
   */
  stream(host: Endpoint, path: string, body: Json, token: string | undefined, message: (m: Json) => void, end: (e: EtcdWireError) => void): WireStream {
    let done = false;
    const finish = (e: EtcdWireError) => {
      if (done) return;
      done = true;
      req.destroy();
      end(e);
    };
    const req = this.request(host, 'POST', path, token);
    req.on('error', (e) => finish(socketError(e, host)));
    req.on('response', (res) => {
      if (res.statusCode !== 200) {
        readBody(res).then(
          (text) => finish(answerError(res.statusCode, parseJson(text), text, host)),
          (e) => finish(socketError(e, host)),
        );
        return;
      }
      let buffered = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        // The gateway writes one JSON object per message, each followed by a newline.
        for (let nl = buffered.indexOf('\n'); nl >= 0 && !done; nl = buffered.indexOf('\n')) {
          const line = buffered.slice(0, nl);
          buffered = buffered.slice(nl + 1);
          if (line.trim() !== '') this.deliver(line, host, message, finish);
        }
      });
      res.on('error', (e) => finish(socketError(e, host)));
      res.on('close', () => finish(new EtcdWireError(`the stream from ${host.url} ended`, { recoverable: true })));
    });
    req.end(JSON.stringify(body));
    return {
      close: () => {
        done = true;
        req.destroy();
      },
    };
  }

  private deliver(line: string, host: Endpoint, message: (m: Json) => void, finish: (e: EtcdWireError) => void): void {
    const m = parseJson(line) as Json | undefined;
    if (!m || typeof m !== 'object' || 'error' in m || typeof m.result !== 'object') finish(answerError(200, m, line, host));
    else message(m.result as Json);
  }

  /** A member's /health ({"health": "true" | "false", "reason"?}), or undefined when it does not answer in time. */
  health(host: Endpoint, timeoutMs: number): Promise<Json | undefined> {
    return new Promise((resolve) => {
      let req: ClientRequest;
      try {
        req = this.request(host, 'GET', '/health');
      } catch {
        return resolve(undefined);
      }
      const timer = setTimeout(() => {
        resolve(undefined);
        req.destroy();
      }, timeoutMs);
      req.on('close', () => clearTimeout(timer));
      req.on('error', () => resolve(undefined));
      req.on('response', (res) =>
        readBody(res).then(
          (text) => resolve(parseJson(text) as Json | undefined),
          () => resolve(undefined),
        ),
      );
      req.end();
    });
  }

  /** End every request and stream, and drop the connections: nothing keeps the process alive. */
  close(): void {
    this.closed = true;
    for (const req of this.open) req.destroy();
    this.open.clear();
    this.agent.destroy();
  }
}
