/**
 * The one module that talks to etcd. Every call has a deadline (etcd3 has none by default), fault
 * handling fails over between hosts but never waits behind a circuit breaker, and every failure
 * becomes a SyncerError with exit 3 and a message naming the cause. Range reads are paged.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import {
  CompareResult,
  CompareTarget,
  Etcd3,
  EtcdAuthenticationFailedError,
  EtcdPermissionDeniedError,
  GRPCDeadlineExceededError,
  GRPCUnauthenticatedError,
  isRecoverableError,
  type IKeyValue,
  type IOptions,
} from 'etcd3';
import { circuitBreaker, ConsecutiveBreaker, handleWhen, isBrokenCircuitError, retry, ConstantBackoff } from 'cockatiel';
import { SyncerError } from '../errors.js';

import { prefixEnd } from '../core/keys.js';

/**
 * A compare-and-swap transaction in plain terms (no etcd3 types outside this adapter). A compare:
 * the key is absent (`version: 0`), unchanged since it was read (`modRevision`), or present (`exists`).
 */
export interface CompareAndSwap {
  compares: ({ key: string; version: 0 } | { key: string; modRevision: string } | { key: string; exists: true })[];
  ops: ({ put: string; value: string } | { delete: string })[];
}

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

const plain = (kv: IKeyValue): KeyValue => ({ key: kv.key.toString(), value: kv.value, modRevision: kv.mod_revision, version: kv.version });

/** What a prefix watch reports; every listener is attached before the watch connects. */
export interface WatchListeners {
  put(kv: KeyValue): void;
  delete(kv: KeyValue): void;
  /** etcd cancelled the watch (the client has already dropped it): typically, its start revision was compacted. */
  cancelled(e: unknown): void;
  /** The stream was lost (etcd restarted, network down). */
  disconnected(e: unknown): void;
  connected(): void;
}

export interface PrefixWatch {
  /** Stop watching (etcd confirms, unless it cancelled the watch itself). */
  cancel(): Promise<void>;
}

/** A candidate in an election (its key bound to a lease kept alive while it campaigns). */
export interface Campaign {
  onElected(listener: () => void): void;
  onError(listener: (e: Error) => void): void;
  /** The election key this candidate holds (it leads while that key exists). */
  key(): Promise<string>;
  resign(): Promise<void>;
}

/** A lease kept alive while we run: its keys vanish by themselves when we die. */
export interface KeptLease {
  /** Write `key` bound to the lease (no deadline of its own: run it under `call`). */
  put(key: string, value: string): Promise<void>;
  /** Revoke it (a courtesy: it expires anyway), waiting at most a second, else let it expire. */
  revoke(): Promise<void>;
  /** Stop keeping it alive: it expires after its TTL. */
  release(): void;
}

/** What the client was configured with, so that a failure can say which setting is wrong. */
export interface ErrorContext {
  username?: string;
  ca?: boolean;
  cert?: boolean;
}

/** The short reason inside a gRPC/OpenSSL TLS error ("unable to verify the first certificate", "sslv3 alert bad certificate"). */
function tlsDetail(msg: string): string {
  const line = firstLine(msg);
  const ssl = /SSL routines:[^:]*:([^:]+)/.exec(line);
  if (ssl) return ssl[1]!.trim();
  const last = /Last error: (?:Error: )?(.*)$/.exec(line);
  return (last ? last[1]! : line).trim();
}

/** What a failed TLS handshake means, in words, from the OpenSSL / Node text of the error. */
function tlsCause(msg: string, ctx: ErrorContext): { cause: string; hint: string } | undefined {
  const caHint = 'set etcd.tls.ca (SYNCER_ETCD_TLS_CA) to the CA certificate that signed the etcd server certificate';
  const clientHint = 'set etcd.tls.cert and etcd.tls.key (SYNCER_ETCD_TLS_CERT / SYNCER_ETCD_TLS_KEY) to a client certificate signed by a CA the cluster trusts';
  const detail = ` (${tlsDetail(msg)})`;
  if (/unable to verify|self[- ]signed|unable to get (local )?issuer|certificate verify failed|CERT_UNTRUSTED|UNABLE_TO_VERIFY|DEPTH_ZERO_SELF_SIGNED|SELF_SIGNED_CERT/i.test(msg)) {
    const why = ctx.ca ? 'it is not signed by the CA in etcd.tls.ca' : 'etcd.tls.ca is unset, so only the system CAs are trusted';
    return { cause: `the server certificate is not trusted: ${why}${detail}`, hint: caHint };
  }
  if (/certificate has expired|CERT_HAS_EXPIRED|certificate is not yet valid|CERT_NOT_YET_VALID/i.test(msg)) {
    return { cause: `the server certificate has expired or is not yet valid${detail}`, hint: "renew the etcd server certificate, or check this machine's clock" };
  }
  if (/does not match certificate|altnames|ERR_TLS_CERT_ALTNAME|hostname mismatch/i.test(msg)) {
    return { cause: `the server certificate is not for this host name${detail}`, hint: 'use the host name the etcd server certificate was issued for in etcd.hosts' };
  }
  if (/alert (bad certificate|certificate required|unknown ca|certificate unknown|handshake failure)|SSL alert number (40|42|46|48|116)/i.test(msg)) {
    const why = ctx.cert ? 'etcd.tls.cert is not signed by a CA the cluster trusts' : 'the cluster requires one and etcd.tls.cert / etcd.tls.key are unset';
    return { cause: `the server refused the client certificate: ${why}${detail}`, hint: clientHint };
  }
  if (/wrong version number|packet length too long|http request|socket disconnected before secure TLS connection/i.test(msg)) {
    return { cause: `the server does not speak TLS: an https:// URL for a plain http:// endpoint?${detail}`, hint: 'use http:// in etcd.hosts for a server without TLS' };
  }
  if (/certificate|SSL|TLS|handshake/i.test(msg)) return { cause: tlsDetail(msg), hint: `${caHint}; ${clientHint}` };
  return undefined;
}

/** Map any failure of the etcd client to a SyncerError (exit 3) whose message names the cause. */
export function registryError(e: unknown, hosts: string[], what = 'registry request', ctx: ErrorContext = {}): SyncerError {
  if (e instanceof SyncerError) return e;
  const username = ctx.username;
  const where = hosts.join(', ');
  const msg = e instanceof Error ? e.message : String(e);
  const user = username ? `etcd user "${username}"` : 'no etcd user (etcd.username unset)';
  if (e instanceof EtcdAuthenticationFailedError || e instanceof GRPCUnauthenticatedError || /invalid user ID or password/i.test(msg)) {
    return new SyncerError('REGISTRY', `etcd at ${where} refused the credentials of ${user} (authentication failed: wrong user name or password)`, {
      hint: 'check etcd.username / etcd.password (SYNCER_ETCD_USERNAME / SYNCER_ETCD_PASSWORD)',
      cause: e,
    });
  }
  if (/user name is empty|invalid auth token|auth token is expired/i.test(msg)) {
    return new SyncerError('REGISTRY', `etcd at ${where} requires authentication (authentication failed: ${username ? `no valid token for etcd user "${username}"` : 'etcd.username is unset'})`, {
      hint: 'set etcd.username and etcd.password (SYNCER_ETCD_USERNAME / SYNCER_ETCD_PASSWORD)',
      cause: e,
    });
  }
  if (/authentication is not enabled/i.test(msg)) {
    return new SyncerError('REGISTRY', `etcd at ${where} does not have authentication enabled, but etcd.username is set (authentication failed)`, {
      hint: 'unset etcd.username and etcd.password, or ask the cluster admin to enable auth',
      cause: e,
    });
  }
  if (e instanceof EtcdPermissionDeniedError || /permission denied/i.test(msg)) {
    return new SyncerError('REGISTRY', `etcd at ${where} denied permission to ${user} for the ${what} (permission denied)`, {
      hint: 'ask the cluster admin to grant your etcd user readwrite on the syncer namespace (etcdctl role grant-permission --prefix=true ROLE readwrite NAMESPACE)',
      cause: e,
    });
  }
  const tls = tlsCause(msg, ctx);
  if (tls) {
    return new SyncerError('REGISTRY', `TLS connection to etcd at ${where} failed: ${tls.cause}`, { hint: tls.hint, cause: e });
  }
  const detail = isBrokenCircuitError(e) ? 'no member answered in time' : plainCause(msg);
  return new SyncerError('REGISTRY', `etcd at ${where} is unreachable or did not answer: ${detail}`, {
    hint: 'check etcd.hosts and that the cluster is up (`syncer doctor`)',
    cause: e,
  });
}

/**
 * The members that answer `/health` but report no leader (etcd says `{"health":"false"}`, 3.5 adds
 * `"reason":"RAFT NO LEADER"`). Plain-http members only, at most ~1 s: a diagnosis, not a retry.
 */
async function membersWithoutLeader(hosts: string[], timeoutMs = 1000): Promise<string[]> {
  const answers = await Promise.all(
    hosts.map(async (h) => {
      if (!h.startsWith('http://')) return undefined;
      try {
        const res = await fetch(`${h.replace(/\/$/, '')}/health`, { signal: AbortSignal.timeout(timeoutMs) });
        const body = (await res.json()) as { health?: unknown; reason?: unknown };
        return String(body.health) === 'false' || /no leader/i.test(String(body.reason ?? '')) ? h : undefined;
      } catch {
        return undefined;
      }
    }),
  );
  return answers.filter((h): h is string => h !== undefined);
}

/** gRPC's words ("14 UNAVAILABLE: No connection established. Last error: ...") as a person would say them. */
function plainCause(msg: string): string {
  // A member that answers but cannot serve: the cluster lost its quorum (or is electing a leader).
  if (/etcdserver: (no leader|request timed out|leader changed)|RAFT NO LEADER/i.test(msg)) {
    return 'the cluster has no leader (quorum lost: fewer than a majority of its members are up, or they cannot reach each other); members answer but cannot serve requests';
  }
  if (/ECONNREFUSED/.test(msg)) return 'connection refused (is etcd running there, on that port?)';
  if (/ENOTFOUND|EAI_AGAIN|getaddrinfo|Name resolution failed/i.test(msg)) return 'host name not found';
  if (/EHOSTUNREACH|ENETUNREACH/.test(msg)) return 'no route to the host';
  if (/DEADLINE_EXCEEDED|Deadline exceeded|no answer within/i.test(msg)) return `no answer in time (${firstLine(msg).replace(/^\d+ DEADLINE_EXCEEDED: Deadline exceeded after ([\d.]+s).*$/, 'gave up after $1')})`;
  return firstLine(msg);
}

const firstLine = (s: string) => s.split('\n')[0]!.replace(/\.?\s*Resolution note:.*$/, '').slice(0, 300);

function readTlsFile(path: string | undefined, what: string, key: string): Buffer | undefined {
  if (!path) return undefined;
  let data: Buffer;
  try {
    data = readFileSync(path);
  } catch (e) {
    throw new SyncerError('USAGE', `cannot read the etcd TLS ${what} ${path} (${key}): ${(e as NodeJS.ErrnoException).code ?? e}`, { hint: `fix ${key}` });
  }
  if (what !== 'key') {
    try {
      new X509Certificate(data);
    } catch {
      throw new SyncerError('USAGE', `the etcd TLS ${what} ${path} (${key}) is not a PEM certificate`, { hint: `fix ${key}` });
    }
  }
  return data;
}

/** TLS credentials for the client, or undefined for plain connections (and https with the system CAs). */
function tlsCredentials(tls: EtcdConnectOptions['tls']): IOptions['credentials'] {
  if (!tls || (!tls.ca && !tls.cert && !tls.key)) return undefined;
  if (!!tls.cert !== !!tls.key) {
    throw new SyncerError('USAGE', `etcd.tls.${tls.cert ? 'cert is set without etcd.tls.key' : 'key is set without etcd.tls.cert'}: a client certificate needs both`, {
      hint: 'set both etcd.tls.cert and etcd.tls.key (SYNCER_ETCD_TLS_CERT / SYNCER_ETCD_TLS_KEY), or neither',
    });
  }
  return {
    // No CA configured: the system's trusted CAs (grpc-js takes null for that), never "trust nothing".
    rootCertificate: (readTlsFile(tls.ca, 'CA certificate', 'etcd.tls.ca') ?? null) as Buffer,
    certChain: readTlsFile(tls.cert, 'client certificate', 'etcd.tls.cert'),
    privateKey: readTlsFile(tls.key, 'key', 'etcd.tls.key'),
  };
}

export class EtcdAdapter {
  private readonly client: Etcd3;
  readonly hosts: string[];
  readonly timeoutMs: number;
  private readonly errorContext: ErrorContext;

  constructor(options: EtcdConnectOptions) {
    this.hosts = options.hosts;
    this.timeoutMs = options.timeoutMs;
    this.errorContext = { username: options.username, ca: !!options.tls?.ca, cert: !!options.tls?.cert };
    // Each attempt gets a share of the deadline so that a frozen member still leaves time to fail
    // over to a live one, and the whole call (see `call`) never outlasts timeoutMs.
    const attempts = Math.max(2, options.hosts.length);
    const perAttemptMs = Math.max(1000, Math.floor(options.timeoutMs / attempts));
    const opts: IOptions = {
      hosts: options.hosts,
      // Unary calls get a deadline; streams (watch, lease keep-alive) must not.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + perAttemptMs }),
      faultHandling: {
        // A member that let a call run into its deadline (frozen, or cut off silently) is skipped
        // for the rest of this run: otherwise every later call may pay the same deadline on it.
        // Refused connections fail fast anyway and do not open the breaker.
        host: () =>
          circuitBreaker(
            handleWhen((e) => e instanceof GRPCDeadlineExceededError),
            { halfOpenAfter: 60_000, breaker: new ConsecutiveBreaker(1) },
          ),
        // Try each host once more on a recoverable error (or a skipped member), so a dead member
        // fails over.
        global: retry(handleWhen((e) => isRecoverableError(e) || isBrokenCircuitError(e)), {
          maxAttempts: attempts,
          backoff: new ConstantBackoff(100),
        }),
      },
      grpcOptions: {
        // etcd refuses pings closer than 5 s apart (--grpc-keepalive-min-time) and, after a few,
        // drops the connection ("excess pings"): 6 s keeps a margin and still notices a silent
        // network loss within about 8 s.
        'grpc.keepalive_time_ms': 6000,
        'grpc.keepalive_timeout_ms': 2000,
        'grpc.max_receive_message_length': 64 * 1024 * 1024,
      },
    };
    if (options.username) opts.auth = { username: options.username, password: options.password ?? '', callOptions: () => ({ deadline: Date.now() + options.timeoutMs }) };
    const plain = options.hosts.filter((h) => !/^https:/i.test(h));
    if (plain.length > 0 && plain.length < options.hosts.length) {
      throw new SyncerError('USAGE', `etcd.hosts mixes https:// and http:// endpoints (${options.hosts.join(', ')}): one cluster is either TLS or not`, {
        hint: 'use https:// for every member of a TLS cluster',
      });
    }
    const credentials = tlsCredentials(options.tls);
    if (credentials && plain.length > 0) {
      // etcd3 would use TLS anyway, whatever the URL says: make the config say what happens.
      throw new SyncerError('USAGE', `etcd.tls is set but etcd.hosts use http:// (${plain.join(', ')})`, {
        hint: 'use https:// URLs in etcd.hosts for a TLS cluster, or unset etcd.tls.ca / etcd.tls.cert / etcd.tls.key for a plain one (with etcd.hosts unset, the embedded local etcd is plain http)',
      });
    }
    if (credentials) opts.credentials = credentials;
    try {
      this.client = new Etcd3(opts); // builds the TLS context: a bad key or a cert/key mismatch fails here
    } catch (e) {
      const msg = e instanceof Error ? e.message : String(e);
      throw new SyncerError('USAGE', `cannot use the etcd TLS files (etcd.tls.ca / etcd.tls.cert / etcd.tls.key): ${/key values mismatch/i.test(msg) ? 'the key does not belong to the client certificate' : /DECODER|PEM|no start line|bad decrypt|unsupported/i.test(msg) ? 'etcd.tls.key is not an unencrypted PEM private key' : firstLine(msg)}`, {
        hint: 'etcd.tls.key must be the PEM private key of the certificate in etcd.tls.cert',
        cause: e,
      });
    }
  }

  /** Run one registry operation under the overall deadline, mapping its failure. */
  async call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    // The quorum diagnosis below runs inside the deadline: started in its last second, not after it.
    const probeMs = Math.min(1000, this.timeoutMs / 4);
    let probe: Promise<string[]> | undefined;
    const probeTimer = setTimeout(() => (probe = membersWithoutLeader(this.hosts, probeMs)), this.timeoutMs - probeMs);
    try {
      return await Promise.race([fn(), deadline]);
    } catch (e) {
      const err = registryError(e, this.hosts, what, this.errorContext);
      // gRPC reports the last member it tried ("connection refused") even when another one answers
      // but cannot serve: ask the members' /health (briefly) before saying the cluster is down.
      if (err.message.includes('is unreachable or did not answer') && !/no leader/.test(err.message)) {
        const leaderless = await (probe ?? membersWithoutLeader(this.hosts, Math.min(300, probeMs)));
        if (leaderless.length > 0) {
          throw new SyncerError('REGISTRY', `etcd at ${this.hosts.join(', ')} cannot serve the ${what}: the cluster has no leader (quorum lost: ${leaderless.join(', ')} answer${leaderless.length === 1 ? 's' : ''} but fewer than a majority of members are up or they cannot reach each other)`, {
            hint: 'bring the stopped members back (a majority of the cluster must be up); `syncer doctor` checks again',
            cause: e,
          });
        }
      }
      throw err;
    } finally {
      clearTimeout(timer);
      clearTimeout(probeTimer);
    }
  }

  /**
   * One transaction: every compare must hold (a key absent: `version: 0`; a key unchanged since it
   * was read: `modRevision`), then every put and delete happens, or none. Whether it committed.
   */
  async compareAndSwap(what: string, txn: CompareAndSwap): Promise<boolean> {
    if (txn.ops.length === 0) return true;
    const request = {
      compare: txn.compares.map((c) =>
        'version' in c
          ? { key: Buffer.from(c.key), target: CompareTarget.Version, result: CompareResult.Equal, version: 0 }
          : 'exists' in c
            ? { key: Buffer.from(c.key), target: CompareTarget.Create, result: CompareResult.Greater, create_revision: 0 }
            : { key: Buffer.from(c.key), target: CompareTarget.Mod, result: CompareResult.Equal, mod_revision: c.modRevision },
      ),
      success: txn.ops.map((o) => ('put' in o ? { request_put: { key: Buffer.from(o.put), value: Buffer.from(o.value) } } : { request_delete_range: { key: Buffer.from(o.delete) } })),
      failure: [],
    };
    return this.call(what, async () => (await this.client.kv.txn(request)).succeeded);
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const res = await this.call(`read of ${key}`, () => this.client.kv.range({ key: Buffer.from(key) }));
    const kv = res.kvs[0];
    return kv && plain(kv);
  }

  /**
   * The cluster's ID and current revision, from the header of a count-only read of `key`: what a
   * watcher compares with its saved position to notice a wiped, restored or other cluster.
   */
  async header(key: string): Promise<{ clusterId: string; revision: string }> {
    const res = await this.call(`read of ${key}`, () => this.client.kv.range({ key: Buffer.from(key), count_only: true }));
    return { clusterId: String(res.header.cluster_id), revision: String(res.header.revision) };
  }

  /**
   * `key` as it was at `revision` (undefined: absent then), or 'compacted' when etcd no longer has
   * that history. `revision` must not be ahead of the current one (etcd refuses a future revision).
   */
  async getAt(key: string, revision: string): Promise<KeyValue | undefined | 'compacted'> {
    const res = await this.call(`read of ${key} at revision ${revision}`, () =>
      this.client.kv.range({ key: Buffer.from(key), revision }).catch((e: Error) => {
        if (/required revision has been compacted/.test(e.message)) return 'compacted' as const;
        throw e;
      }),
    );
    if (res === 'compacted') return res;
    const kv = res.kvs[0];
    return kv && plain(kv);
  }

  /** Every key under `prefix` in key order, page by page (responses stay far below grpc limits). */
  async *range(prefix: string, options: { keysOnly?: boolean; pageSize?: number; snapshot?: { revision?: string } } = {}): AsyncGenerator<KeyValue> {
    const end = prefixEnd(prefix);
    let start = Buffer.from(prefix);
    const limit = options.pageSize ?? PAGE;
    // Every page is read at the first page's revision: one consistent snapshot.
    let revision: string | undefined;
    for (;;) {
      const res = await this.call(`listing of ${prefix}`, () =>
        this.client.kv.range({ key: start, range_end: end, limit, keys_only: options.keysOnly ?? false, revision }),
      );
      revision ??= res.header.revision;
      if (options.snapshot) options.snapshot.revision = revision;
      for (const kv of res.kvs) yield plain(kv);
      if (!res.more || res.kvs.length === 0) return;
      start = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
    }
  }

  /** Everything under `prefix`, and the revision of that snapshot (to watch from revision + 1). */
  async listAt(prefix: string, options: { keysOnly?: boolean } = {}): Promise<{ kvs: KeyValue[]; revision: string }> {
    const kvs: KeyValue[] = [];
    const snapshot: { revision?: string } = {};
    for await (const kv of this.range(prefix, { ...options, snapshot })) kvs.push(kv);
    return { kvs, revision: snapshot.revision! };
  }

  /**
   * Whether this client may write `key`, without writing anything: a transaction whose compare can
   * never hold (create revision < 0) still has the permissions of its branches checked by etcd.
   * Resolves when writable; rejects with exit 3 "permission denied" (or the auth/TLS cause) if not.
   * For `doctor` and for a pre-flight before sync commits and pushes.
   */
  async checkWritable(key: string): Promise<void> {
    await this.call(`write check of ${key}`, () => this.client.if(key, 'Create', '<', 0).then(this.client.put(key).value('')).commit());
  }

  /**
   * Watch every key under `prefix` from `revision` on. The watcher is built with its listeners
   * attached at once: etcd can answer "created" and "cancelled" (compacted) in one read, and an
   * error emitted before a listener exists would be lost.
   */
  watchPrefix(prefix: string, revision: string, listeners: WatchListeners): PrefixWatch {
    const watcher = this.client.watch().prefix(prefix).startRevision(revision).watcher();
    watcher.on('put', (kv) => listeners.put(plain(kv)));
    watcher.on('delete', (kv) => listeners.delete(plain(kv)));
    watcher.on('error', (e) => listeners.cancelled(e));
    watcher.on('disconnected', (e) => listeners.disconnected(e));
    watcher.on('connected', () => listeners.connected());
    return { cancel: () => watcher.cancel() };
  }

  /** Campaign in the election `name` under `namespace`, as `value`, on a lease of `ttlSeconds`. */
  campaign(namespace: string, name: string, value: string, ttlSeconds: number): Campaign {
    const campaign = this.client.namespace(namespace).election(name, ttlSeconds).campaign(value);
    return {
      onElected: (listener) => void campaign.on('elected', listener),
      onError: (listener) => void campaign.on('error', listener),
      key: () => campaign.getCampaignKey(),
      resign: () => campaign.resign(),
    };
  }

  /** A lease of `ttlSeconds`, kept alive until revoked or released. */
  keptLease(ttlSeconds: number): KeptLease {
    const lease = this.client.lease(ttlSeconds, { autoKeepAlive: true });
    lease.on('lost', () => undefined); // expiry is the point; nothing to do
    return {
      put: async (key, value) => {
        await lease.put(key).value(value);
      },
      revoke: async () => {
        await lease.revoke({ deadline: Date.now() + 1000 }).catch(() => lease.release());
      },
      release: () => lease.release(),
    };
  }

  async close(): Promise<void> {
    this.client.close();
  }
}
