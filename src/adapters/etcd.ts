/**
 * The one module that talks to etcd. Every call has a deadline (etcd3 has none by default), fault
 * handling fails over between hosts but never waits behind a circuit breaker, and every failure
 * becomes a SyncerError with exit 3 and a message naming the cause. Range reads are paged.
 */
import { readFileSync } from 'node:fs';
import {
  Etcd3,
  EtcdAuthenticationFailedError,
  EtcdPermissionDeniedError,
  GRPCUnauthenticatedError,
  isRecoverableError,
  type IOptions,
} from 'etcd3';
import { handleWhen, noop, retry, ConstantBackoff } from 'cockatiel';
import { SyncerError } from '../errors.js';
import { prefixEnd } from '../core/keys.js';

export interface EtcdConnectOptions {
  hosts: string[];
  username?: string;
  password?: string;
  tls?: { ca?: string; cert?: string; key?: string };
  timeoutMs: number;
}

export interface KeyValue {
  key: string;
  value: Buffer;
  modRevision: string;
  version: string;
}

const PAGE = 1000;

/** Map any failure of the etcd client to a SyncerError (exit 3) whose message names the cause. */
export function registryError(e: unknown, hosts: string[], what = 'registry request'): SyncerError {
  if (e instanceof SyncerError) return e;
  const where = hosts.join(', ');
  const msg = e instanceof Error ? e.message : String(e);
  if (e instanceof EtcdAuthenticationFailedError || e instanceof GRPCUnauthenticatedError) {
    return new SyncerError('REGISTRY', `etcd at ${where} refused the credentials (authentication failed)`, {
      hint: 'check etcd.username / etcd.password (SYNCER_ETCD_USERNAME / SYNCER_ETCD_PASSWORD)',
      cause: e,
    });
  }
  if (e instanceof EtcdPermissionDeniedError) {
    return new SyncerError('REGISTRY', `etcd at ${where} denied permission for the ${what}`, {
      hint: 'ask the cluster admin to grant your etcd user read/write on the syncer namespace',
      cause: e,
    });
  }
  if (/certificate|SSL|TLS|self.signed|handshake/i.test(msg)) {
    return new SyncerError('REGISTRY', `TLS connection to etcd at ${where} failed: ${firstLine(msg)}`, {
      hint: 'check etcd.tls.ca (the CA that signed the server certificate), etcd.tls.cert and etcd.tls.key',
      cause: e,
    });
  }
  return new SyncerError('REGISTRY', `etcd at ${where} is unreachable or did not answer: ${firstLine(msg)}`, {
    hint: 'check etcd.hosts and that the cluster is up (`syncer doctor`)',
    cause: e,
  });
}

const firstLine = (s: string) => s.split('\n')[0]!.replace(/\.?\s*Resolution note:.*$/, '').slice(0, 300);

function readTlsFile(path: string | undefined, what: string): Buffer | undefined {
  if (!path) return undefined;
  try {
    return readFileSync(path);
  } catch (e) {
    throw new SyncerError('USAGE', `cannot read etcd TLS ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
}

export class EtcdAdapter {
  readonly client: Etcd3;
  readonly hosts: string[];
  readonly timeoutMs: number;

  constructor(options: EtcdConnectOptions) {
    this.hosts = options.hosts;
    this.timeoutMs = options.timeoutMs;
    // Each attempt gets a share of the deadline so that a frozen member still leaves time to fail
    // over to a live one, and the whole call (see `call`) never outlasts timeoutMs.
    const attempts = Math.max(2, options.hosts.length);
    const perAttemptMs = Math.max(1000, Math.floor(options.timeoutMs / attempts));
    const opts: IOptions = {
      hosts: options.hosts,
      // Unary calls get a deadline; streams (watch, lease keep-alive) must not.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + perAttemptMs }),
      faultHandling: {
        // No per-host circuit breaker: it turns "etcd down" into instant BrokenCircuitErrors.
        host: () => noop,
        // Try each host once more on a recoverable error, so a dead member fails over.
        global: retry(handleWhen(isRecoverableError), {
          maxAttempts: attempts,
          backoff: new ConstantBackoff(100),
        }),
      },
      grpcOptions: {
        'grpc.keepalive_time_ms': 5000,
        'grpc.keepalive_timeout_ms': 2000,
        'grpc.max_receive_message_length': 64 * 1024 * 1024,
      },
    };
    if (options.username) opts.auth = { username: options.username, password: options.password ?? '', callOptions: () => ({ deadline: Date.now() + options.timeoutMs }) };
    const ca = readTlsFile(options.tls?.ca, 'CA');
    if (ca || options.tls?.cert) {
      opts.credentials = {
        rootCertificate: ca ?? Buffer.alloc(0),
        certChain: readTlsFile(options.tls?.cert, 'certificate'),
        privateKey: readTlsFile(options.tls?.key, 'key'),
      };
    }
    this.client = new Etcd3(opts);
  }

  /** Run one registry operation under the overall deadline, mapping its failure. */
  async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      return await Promise.race([fn(), deadline]);
    } catch (e) {
      throw registryError(e, this.hosts, what);
    } finally {
      clearTimeout(timer);
    }
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const res = await this.call(`read of ${key}`, () => this.client.kv.range({ key: Buffer.from(key) }));
    const kv = res.kvs[0];
    return kv && { key: kv.key.toString(), value: kv.value, modRevision: kv.mod_revision, version: kv.version };
  }

  /** Every key under `prefix` in key order, page by page (responses stay far below grpc limits). */
  async *range(prefix: string, options: { keysOnly?: boolean; pageSize?: number } = {}): AsyncGenerator<KeyValue> {
    const end = prefixEnd(prefix);
    let start = Buffer.from(prefix);
    const limit = options.pageSize ?? PAGE;
    for (;;) {
      const res = await this.call(`listing of ${prefix}`, () =>
        this.client.kv.range({ key: start, range_end: end, limit, keys_only: options.keysOnly ?? false }),
      );
      for (const kv of res.kvs) {
        yield { key: kv.key.toString(), value: kv.value, modRevision: kv.mod_revision, version: kv.version };
      }
      if (!res.more || res.kvs.length === 0) return;
      start = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
    }
  }

  async rangeAll(prefix: string, options: { keysOnly?: boolean } = {}): Promise<KeyValue[]> {
    const out: KeyValue[] = [];
    for await (const kv of this.range(prefix, options)) out.push(kv);
    return out;
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
