/**
 * The one module that talks to etcd, through etcd's own HTTP/JSON API (./etcd-http.ts: no gRPC
 * client to load, which cost every command ~250 ms of imports). Every call has a deadline, fails
 * over between members but never waits on one that already ran into its deadline, and every
 * failure becomes a SyncerError with exit 3 and a message naming the cause (./etcd-errors.ts).
 * Range reads are paged.
 */
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { SyncerError } from '../errors.js';
import { prefixEnd } from '../core/keys.js';
import { EtcdWire, type Json } from './etcd-http.js';
import { openWatch, type StreamWatch } from './etcd-watch.js';
import { b64, WireCampaign, WireLease } from './etcd-lease.js';
import { firstLine, registryError, type ErrorContext } from './etcd-errors.js';

export { registryError, type ErrorContext } from './etcd-errors.js';

/**
 * A compare-and-swap transaction in plain terms (no wire format outside this adapter). A compare:
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

/** Keys (and values) a page. Values stay below MAX_RECORD_BYTES each: a page is a few MB at most. */
const PAGE = 1000;
/**
 * Keys a page of a keys-only read (index markers: ~100 bytes of JSON each). The gateway's JSON
 * costs per key, not per page, but every page costs a round trip and a snapshot read.
 */
const KEYS_ONLY_PAGE = 10_000;

/** A key-value of the API (base64 key and value, revisions as strings) in plain terms. */
const plain = (kv: Json): KeyValue => ({
  key: Buffer.from(String(kv.key ?? ''), 'base64').toString(),
  value: Buffer.from(String(kv.value ?? ''), 'base64'),
  modRevision: String(kv.mod_revision ?? '0'),
  version: String(kv.version ?? '0'),
});

const kvsOf = (res: Json) => (res.kvs as Json[] | undefined) ?? [];
const headerOf = (res: Json) => (res.header ?? {}) as Json;

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

/**
 * The members that answer `/health` but report no leader (etcd says `{"health":"false"}`, 3.5 adds
 * `"reason":"RAFT NO LEADER"`), at most `timeoutMs`: a diagnosis, not a retry.
 */
async function membersWithoutLeader(wire: EtcdWire, timeoutMs = 1000): Promise<string[]> {
  const answers = await Promise.all(
    wire.endpoints.map(async (host) => {
      const body = await wire.health(host, timeoutMs);
      if (!body) return undefined;
      return String(body.health) === 'false' || /no leader/i.test(String(body.reason ?? '')) ? host.url : undefined;
    }),
  );
  return answers.filter((h): h is string => h !== undefined);
}

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

/** The https/http mix of the hosts and the TLS settings must agree: say which setting is wrong. */
function checkSchemes(hosts: string[], tlsSet: boolean): void {
  const plainHosts = hosts.filter((h) => !/^https:/i.test(h));
  if (plainHosts.length > 0 && plainHosts.length < hosts.length) {
    throw new SyncerError('USAGE', `etcd.hosts mixes https:// and http:// endpoints (${hosts.join(', ')}): one cluster is either TLS or not`, {
      hint: 'use https:// for every member of a TLS cluster',
    });
  }
  if (tlsSet && plainHosts.length > 0) {
    // TLS settings for a plain URL would be silently ignored: make the config say what happens.
    throw new SyncerError('USAGE', `etcd.tls is set but etcd.hosts use http:// (${plainHosts.join(', ')})`, {
      hint:
        'use https:// URLs in etcd.hosts for a TLS cluster, or unset etcd.tls.ca / etcd.tls.cert / etcd.tls.key for a plain one' +
        ' (with etcd.hosts unset, the embedded local etcd is plain http)',
    });
  }
}

/**
 * The TLS context of the client, or undefined for plain connections (and https with the system
 * CAs). Built here, not at the first connection: a bad key or a cert/key mismatch is a config error.
 */
function secureContext(tls: EtcdConnectOptions['tls']): SecureContext | undefined {
  if (!tls || (!tls.ca && !tls.cert && !tls.key)) return undefined;
  if (!!tls.cert !== !!tls.key) {
    throw new SyncerError(
      'USAGE',
      `etcd.tls.${tls.cert ? 'cert is set without etcd.tls.key' : 'key is set without etcd.tls.cert'}: a client certificate needs both`,
      {
        hint: 'set both etcd.tls.cert and etcd.tls.key (SYNCER_ETCD_TLS_CERT / SYNCER_ETCD_TLS_KEY), or neither',
      },
    );
  }
  const ca = readTlsFile(tls.ca, 'CA certificate', 'etcd.tls.ca');
  const cert = readTlsFile(tls.cert, 'client certificate', 'etcd.tls.cert');
  const key = readTlsFile(tls.key, 'key', 'etcd.tls.key');
  try {
    // No CA configured: the system's trusted CAs, never "trust nothing".
    return createSecureContext({ ca, cert, key });
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    const why = /key values mismatch/i.test(msg)
      ? 'the key does not belong to the client certificate'
      : /DECODER|PEM|no start line|bad decrypt|unsupported|bad password/i.test(msg)
        ? 'etcd.tls.key is not an unencrypted PEM private key'
        : firstLine(msg);
    throw new SyncerError('USAGE', `cannot use the etcd TLS files (etcd.tls.ca / etcd.tls.cert / etcd.tls.key): ${why}`, {
      hint: 'etcd.tls.key must be the PEM private key of the certificate in etcd.tls.cert',
      cause: e,
    });
  }
}

/** A compare of a transaction in the API's terms. */
function compareOf(c: CompareAndSwap['compares'][number]): Json {
  const key = b64(c.key);
  if ('version' in c) return { key, target: 'VERSION', result: 'EQUAL', version: '0' };
  if ('exists' in c) return { key, target: 'CREATE', result: 'GREATER', create_revision: '0' };
  return { key, target: 'MOD', result: 'EQUAL', mod_revision: c.modRevision };
}

const opOf = (o: CompareAndSwap['ops'][number]): Json =>
  'put' in o ? { request_put: { key: b64(o.put), value: b64(o.value) } } : { request_delete_range: { key: b64(o.delete) } };

/** Something that keeps the process alive until closed (a watch, a lease, a campaign). */
interface Closable {
  close(): void;
}

export class EtcdAdapter {
  private readonly wire: EtcdWire;
  readonly hosts: string[];
  readonly timeoutMs: number;
  private readonly errorContext: ErrorContext;
  private readonly live = new Set<Closable>();

  constructor(options: EtcdConnectOptions) {
    this.hosts = options.hosts;
    this.timeoutMs = options.timeoutMs;
    this.errorContext = { username: options.username, ca: !!options.tls?.ca, cert: !!options.tls?.cert };
    const tlsSet = !!(options.tls && (options.tls.ca || options.tls.cert || options.tls.key));
    checkSchemes(options.hosts, tlsSet);
    // Each attempt gets a share of the deadline so that a frozen member still leaves time to fail
    // over to a live one, and the whole call (see `call`) never outlasts timeoutMs.
    const attempts = Math.max(2, options.hosts.length);
    const perAttemptMs = Math.max(1000, Math.floor(options.timeoutMs / attempts));
    this.wire = new EtcdWire({
      hosts: options.hosts,
      secureContext: secureContext(options.tls),
      username: options.username,
      password: options.password,
      perAttemptMs,
      attempts,
    });
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
    const probeTimer = setTimeout(() => (probe = membersWithoutLeader(this.wire, probeMs)), this.timeoutMs - probeMs);
    try {
      return await Promise.race([fn(), deadline]);
    } catch (e) {
      const err = registryError(e, this.hosts, what, this.errorContext);
      // The last member tried may say "connection refused" while another one answers but cannot
      // serve: ask the members' /health (briefly) before saying the cluster is down.
      if (err.message.includes('is unreachable or did not answer') && !/no leader/.test(err.message)) {
        const leaderless = await (probe ?? membersWithoutLeader(this.wire, Math.min(300, probeMs)));
        if (leaderless.length > 0) throw this.noLeader(what, leaderless, e);
      }
      throw err;
    } finally {
      clearTimeout(timer);
      clearTimeout(probeTimer);
    }
  }

  private noLeader(what: string, leaderless: string[], cause: unknown): SyncerError {
    const answer = `${leaderless.join(', ')} answer${leaderless.length === 1 ? 's' : ''}`;
    return new SyncerError(
      'REGISTRY',
      `etcd at ${this.hosts.join(', ')} cannot serve the ${what}: the cluster has no leader ` +
        `(quorum lost: ${answer} but fewer than a majority of members are up or they cannot reach each other)`,
      { hint: 'bring the stopped members back (a majority of the cluster must be up); `syncer doctor` checks again', cause },
    );
  }

  /**
   * One transaction: every compare must hold (a key absent: `version: 0`; a key unchanged since it
   * was read: `modRevision`), then every put and delete happens, or none. Whether it committed.
   */
  async compareAndSwap(what: string, txn: CompareAndSwap): Promise<boolean> {
    if (txn.ops.length === 0) return true;
    const request = { compare: txn.compares.map(compareOf), success: txn.ops.map(opOf), failure: [] };
    return this.call(what, async () => (await this.wire.unary('/v3/kv/txn', request)).succeeded === true);
  }

  async get(key: string): Promise<KeyValue | undefined> {
    const res = await this.call(`read of ${key}`, () => this.wire.unary('/v3/kv/range', { key: b64(key) }));
    const kv = kvsOf(res)[0];
    return kv && plain(kv);
  }

  /**
   * The cluster's ID and current revision, from the header of a count-only read of `key`: what a
   * watcher compares with its saved position to notice a wiped, restored or other cluster.
   */
  async header(key: string): Promise<{ clusterId: string; revision: string }> {
    const res = await this.call(`read of ${key}`, () => this.wire.unary('/v3/kv/range', { key: b64(key), count_only: true }));
    return { clusterId: String(headerOf(res).cluster_id), revision: String(headerOf(res).revision) };
  }

  /**
   * `key` as it was at `revision` (undefined: absent then), or 'compacted' when etcd no longer has
   * that history. `revision` must not be ahead of the current one (etcd refuses a future revision).
   */
  async getAt(key: string, revision: string): Promise<KeyValue | undefined | 'compacted'> {
    const res = await this.call(`read of ${key} at revision ${revision}`, () =>
      this.wire.unary('/v3/kv/range', { key: b64(key), revision }).catch((e: Error) => {
        if (/required revision has been compacted/.test(e.message)) return 'compacted' as const;
        throw e;
      }),
    );
    if (res === 'compacted') return res;
    const kv = kvsOf(res)[0];
    return kv && plain(kv);
  }

  /** Every key under `prefix` in key order, page by page (one answer stays a few MB at most). */
  async *range(prefix: string, options: { keysOnly?: boolean; pageSize?: number; snapshot?: { revision?: string } } = {}): AsyncGenerator<KeyValue> {
    const end = b64(prefixEnd(prefix));
    let start = Buffer.from(prefix);
    const limit = options.pageSize ?? (options.keysOnly ? KEYS_ONLY_PAGE : PAGE);
    // Every page is read at the first page's revision: one consistent snapshot.
    let revision: string | undefined;
    for (;;) {
      const request = { key: b64(start), range_end: end, limit, keys_only: options.keysOnly ?? false, revision };
      const res = await this.call(`listing of ${prefix}`, () => this.wire.unary('/v3/kv/range', request));
      revision ??= String(headerOf(res).revision);
      if (options.snapshot) options.snapshot.revision = revision;
      const kvs = kvsOf(res);
      for (const kv of kvs) yield plain(kv);
      if (!res.more || kvs.length === 0) return;
      start = Buffer.concat([Buffer.from(String(kvs[kvs.length - 1]!.key), 'base64'), Buffer.from([0])]);
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
    const request = {
      compare: [{ key: b64(key), target: 'CREATE', result: 'LESS', create_revision: '0' }],
      success: [{ request_put: { key: b64(key), value: '' } }],
    };
    await this.call(`write check of ${key}`, () => this.wire.unary('/v3/kv/txn', request));
  }

  /**
   * Watch every key under `prefix` from `revision` on. The listeners are given at once: etcd can
   * answer "created" and "cancelled" (compacted) in one message, and nothing may arrive unheard.
   */
  watchPrefix(prefix: string, revision: string, listeners: WatchListeners): PrefixWatch {
    const request = { key: b64(prefix), range_end: b64(prefixEnd(prefix)), start_revision: revision };
    let watch: StreamWatch | undefined;
    const closable = { close: () => watch?.cancel() };
    const done = () => this.live.delete(closable);
    watch = openWatch(this.wire, request, {
      created: () => listeners.connected(),
      events: (events) => {
        for (const e of events) {
          // A put is the API's default event type: its JSON leaves "type" out.
          if (e.type === 'DELETE') listeners.delete(plain((e.kv ?? {}) as Json));
          else listeners.put(plain((e.kv ?? {}) as Json));
        }
      },
      cancelled: (e) => {
        done();
        listeners.cancelled(e);
      },
      lost: (e) => {
        done();
        listeners.disconnected(e);
      },
    });
    this.live.add(closable);
    return {
      cancel: async () => {
        done();
        watch?.cancel();
      },
    };
  }

  /** Campaign in the election `name` under `namespace`, as `value`, on a lease of `ttlSeconds`. */
  campaign(namespace: string, name: string, value: string, ttlSeconds: number): Campaign {
    const campaign = new WireCampaign(this.wire, `${namespace}election/${name}/`, value, ttlSeconds);
    this.live.add(campaign);
    return {
      onElected: (listener) => campaign.onElected(listener),
      onError: (listener) => campaign.onError(listener),
      key: () => campaign.key(),
      resign: async () => {
        this.live.delete(campaign);
        await campaign.resign();
      },
    };
  }

  /** A lease of `ttlSeconds`, kept alive until revoked or released. */
  keptLease(ttlSeconds: number): KeptLease {
    const lease = new WireLease(this.wire, ttlSeconds);
    const closable = { close: () => lease.release() };
    this.live.add(closable);
    return {
      put: (key, value) => lease.put(key, value),
      revoke: async () => {
        this.live.delete(closable);
        await lease.revoke(1000).catch(() => lease.release());
      },
      release: () => {
        this.live.delete(closable);
        lease.release();
      },
    };
  }

  /** End every watch, keep-alive and campaign, and every connection: the process can exit at once. */
  async close(): Promise<void> {
    for (const c of this.live) c.close();
    this.live.clear();
    this.wire.close();
  }
}
