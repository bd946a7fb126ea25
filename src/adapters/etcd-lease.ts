/**
 * Leases and elections over etcd's HTTP API. A lease is kept alive every TTL/3 (one POST to
 * /v3/lease/keepalive each: the gateway answers once and ends the stream when the request ends);
 * it is lost when etcd says it no longer knows it, or when no keep-alive was answered for a whole
 * TTL (etcd has let it expire by then).
 *
 * Elections are etcd's own algorithm (client/v3/concurrency, which the etcd3 package followed):
 * each candidate writes `<prefix><lease id>` bound to its lease, and leads once every key created
 * before its own is gone. It needs nothing but kv, lease and watch requests, and keeps etcd3's keys
 * (the lease ID in decimal; etcd's server-side election API would write it in hex), so candidates of
 * older syncers take part in the same election.
 */
import { prefixEnd } from '../core/keys.js';
import type { EtcdWire, Json } from './etcd-http.js';
import { openWatch, type StreamWatch } from './etcd-watch.js';

export const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

export class WireLease {
  private id?: Promise<string>;
  private ticker?: NodeJS.Timeout;
  /** When the last keep-alive that etcd answered was sent. */
  private keptAt = 0;
  private inFlight = false;
  private state: 'live' | 'released' | 'lost' = 'live';
  private readonly lostListeners: ((e: Error) => void)[] = [];

  constructor(
    private readonly wire: EtcdWire,
    private readonly ttlSeconds: number,
  ) {}

  onLost(listener: (e: Error) => void): void {
    this.lostListeners.push(listener);
  }

  /** The lease's ID (granted on first use, then kept alive). */
  grant(): Promise<string> {
    this.id ??= this.wire.unary('/v3/lease/grant', { TTL: String(this.ttlSeconds) }).then((r) => {
      this.keptAt = Date.now();
      if (this.state === 'live') this.keepAlive(String(r.ID));
      return String(r.ID);
    });
    return this.id;
  }

  /** Write `key` bound to the lease. */
  async put(key: string, value: string): Promise<void> {
    const lease = await this.grant();
    await this.wire.unary('/v3/kv/put', { key: b64(key), value: b64(value), lease });
  }

  private keepAlive(id: string): void {
    const ttlMs = this.ttlSeconds * 1000;
    this.ticker = setInterval(
      () => {
        // Checked even while a keep-alive hangs: past its TTL etcd has revoked it, whatever we hear later.
        if (Date.now() - this.keptAt > ttlMs) return this.lose(new Error(`lease ${id} expired: no keep-alive was answered within its ${this.ttlSeconds} s`));
        if (this.inFlight) return;
        this.inFlight = true;
        const sentAt = Date.now();
        this.wire
          .unary('/v3/lease/keepalive', { ID: id })
          .then(
            (r) => {
              // etcd answers a lease it no longer knows with no TTL.
              if (Number(r.TTL ?? 0) > 0) this.keptAt = Math.max(this.keptAt, sentAt);
              else this.lose(new Error(`lease ${id} expired (etcd no longer knows it)`));
            },
            () => undefined, // tried again at the next tick; lost once a whole TTL passed unanswered
          )
          .finally(() => (this.inFlight = false));
      },
      Math.max(100, Math.floor(ttlMs / 3)),
    );
    this.ticker.unref();
  }

  private lose(e: Error): void {
    if (this.state !== 'live') return;
    this.state = 'lost';
    clearInterval(this.ticker);
    for (const l of this.lostListeners) l(e);
  }

  /** Stop keeping it alive: it expires after its TTL. */
  release(): void {
    if (this.state === 'live') this.state = 'released';
    clearInterval(this.ticker);
  }

  /** Revoke it now (its keys vanish), waiting at most `timeoutMs`. */
  async revoke(timeoutMs?: number): Promise<void> {
    this.release();
    if (!this.id) return;
    const id = await this.id.catch(() => undefined);
    if (id === undefined) return;
    const revoke = this.wire.unary('/v3/lease/revoke', { ID: id });
    if (timeoutMs === undefined) return void (await revoke);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)));
    try {
      await Promise.race([revoke, late]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** A candidate in the election under `prefix` (`<namespace>election/<name>/`). */
export class WireCampaign {
  private readonly lease: WireLease;
  private readonly electedListeners: (() => void)[] = [];
  private readonly errorListeners: ((e: Error) => void)[] = [];
  private resigned = false;
  /** Resigned, closed or failed: no more events. */
  private over = false;
  /** Ends the wait for a predecessor's key to go (on resign or close). */
  private stopWaiting?: () => void;

  constructor(
    private readonly wire: EtcdWire,
    private readonly prefix: string,
    private readonly value: string,
    ttlSeconds: number,
  ) {
    this.lease = new WireLease(wire, ttlSeconds);
    this.lease.onLost((e) => this.fail(e));
    this.start().then(
      () => {
        if (!this.over) for (const l of this.electedListeners) l();
      },
      (e: Error) => {
        this.fail(e);
        this.resign().catch(() => undefined);
      },
    );
  }

  onElected(listener: () => void): void {
    this.electedListeners.push(listener);
  }

  onError(listener: (e: Error) => void): void {
    this.errorListeners.push(listener);
  }

  async key(): Promise<string> {
    return this.prefix + (await this.lease.grant());
  }

  private fail(e: Error): void {
    if (this.over) return;
    this.over = true;
    this.stopWaiting?.();
    for (const l of this.errorListeners) l(e);
  }

  /** Write our key (absent: our lease is new), then wait until every key created before it is gone. */
  private async start(): Promise<void> {
    const lease = await this.lease.grant();
    const key = b64(this.prefix + lease);
    const r = await this.wire.unary('/v3/kv/txn', {
      compare: [{ key, target: 'CREATE', result: 'EQUAL', create_revision: '0' }],
      success: [{ request_put: { key, value: b64(this.value), lease } }],
      failure: [{ request_range: { key } }],
    });
    const created = r.succeeded ? (r.header as Json).revision : (((r.responses as Json[])[0]!.response_range as Json).kvs as Json[])[0]!.create_revision;
    await this.waitForElected(BigInt(String(created)));
  }

  private async waitForElected(created: bigint): Promise<void> {
    const from = b64(this.prefix);
    const to = b64(prefixEnd(this.prefix));
    while (!this.over) {
      // The last candidate before us: we lead once it is gone (and then nobody is before us).
      const r = await this.wire.unary('/v3/kv/range', {
        key: from,
        range_end: to,
        max_create_revision: String(created - 1n),
        sort_order: 'DESCEND',
        sort_target: 'CREATE',
        limit: 1,
      });
      const before = (r.kvs as Json[] | undefined)?.[0];
      if (!before) return;
      await this.waitForDelete(String(before.key), String((r.header as Json).revision));
    }
  }

  private waitForDelete(key: string, revision: string): Promise<void> {
    return new Promise((resolve, reject) => {
      let watch: StreamWatch | undefined;
      this.stopWaiting = () => {
        watch?.cancel();
        resolve();
      };
      watch = openWatch(
        this.wire,
        { key, start_revision: revision, filters: ['NOPUT'] },
        {
          created: () => undefined,
          events: (events) => {
            if (!events.some((e) => e.type === 'DELETE')) return;
            watch?.cancel();
            resolve();
          },
          cancelled: reject,
          lost: reject,
        },
      );
    });
  }

  /** Give up the candidacy (and the leadership): our key goes with our lease. */
  async resign(): Promise<void> {
    if (this.resigned) return;
    this.resigned = true;
    this.over = true;
    this.stopWaiting?.();
    await this.lease.revoke();
  }

  /** Stop everything without a word to etcd (the lease expires by itself). */
  close(): void {
    this.over = true;
    this.stopWaiting?.();
    this.lease.release();
  }
}
