/**
 * The etcd adapter over etcd's HTTP/JSON API, against the suite's real etcd and against fake
 * members made by the test (one that accepts connections and never answers, one that answers a
 * watch and then goes silent, one that answers with etcd's error bodies): paged reads from one
 * snapshot, failover that skips a frozen member, the error messages, compaction, a silent watch
 * noticed, elections with etcd3's key layout, leases lost, and close() leaving nothing behind.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { execFileSync, spawn } from 'node:child_process';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { EtcdAdapter, type KeyValue } from '../../src/adapters/etcd.js';
import { startCluster, type Cluster } from '../helpers/etcd.js';

const hosts = () => inject('etcdHosts').split(',');
const ns = `w${Math.random().toString(36).slice(2, 8)}/`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const etcdctl = (...args: string[]) =>
  execFileSync('etcdctl', ['--endpoints', hosts().join(','), ...args], { encoding: 'utf8', env: { ...process.env, ETCDCTL_API: '3' } });

interface Fake {
  url: string;
  close(): Promise<void>;
}

/** A member that accepts TCP connections and never says a word (a frozen etcd). */
async function silentMember(): Promise<Fake> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    url,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A fake member answering each path with `handle` (which may leave the response open forever). */
async function fakeMember(handle: (path: string, body: string, res: ServerResponse) => void): Promise<Fake> {
  const open = new Set<ServerResponse>();
  const server = createHttpServer((req: IncomingMessage, res) => {
    open.add(res);
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => handle(req.url ?? '', body, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
    close: () =>
      new Promise<void>((r) => {
        for (const res of open) res.destroy();
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

const adapters: EtcdAdapter[] = [];
function adapter(list: string[] = hosts(), timeoutMs = 5000): EtcdAdapter {
  const a = new EtcdAdapter({ hosts: list, timeoutMs });
  adapters.push(a);
  return a;
}
afterAll(async () => {
  for (const a of adapters) await a.close();
});

describe('reads and writes', () => {
  const N = 2345;
  beforeAll(async () => {
    const a = adapter();
    for (let i = 0; i < N; i += 100) {
      const ops = Array.from({ length: Math.min(100, N - i) }, (_, j) => ({ put: `${ns}many/${String(i + j).padStart(5, '0')}`, value: `v${i + j}` }));
      expect(await a.compareAndSwap('fill', { compares: [], ops })).toBe(true);
    }
  });

  it('range reads every key in order, page by page, from one snapshot', async () => {
    const a = adapter();
    const snapshot: { revision?: string } = {};
    const seen: KeyValue[] = [];
    for await (const kv of a.range(`${ns}many/`, { pageSize: 1000, snapshot })) {
      // Written after the first page: not part of the snapshot being read.
      if (seen.length === 0) await a.compareAndSwap('late', { compares: [], ops: [{ put: `${ns}many/99999`, value: 'late' }] });
      seen.push(kv);
    }
    expect(seen).toHaveLength(N);
    expect(seen.map((kv) => kv.key)).toEqual(Array.from({ length: N }, (_, i) => `${ns}many/${String(i).padStart(5, '0')}`));
    expect(seen[7]!.value.toString()).toBe('v7');
    expect(BigInt(seen[N - 1]!.modRevision)).toBeLessThanOrEqual(BigInt(snapshot.revision!));
    const keysOnly = await a.listAt(`${ns}many/`, { keysOnly: true });
    expect(keysOnly.kvs).toHaveLength(N + 1);
    expect(keysOnly.kvs[0]!.value.length).toBe(0);
  });

  it('compare-and-swap commits only when its compares hold; get, header and getAt read back', async () => {
    const a = adapter();
    const key = `${ns}cas`;
    expect(await a.compareAndSwap('create', { compares: [{ key, version: 0 }], ops: [{ put: key, value: 'one' }] })).toBe(true);
    expect(await a.compareAndSwap('create again', { compares: [{ key, version: 0 }], ops: [{ put: key, value: 'two' }] })).toBe(false);
    const first = (await a.get(key))!;
    expect(first).toMatchObject({ key, modRevision: expect.stringMatching(/^\d+$/), version: '1' });
    expect(await a.compareAndSwap('swap', { compares: [{ key, modRevision: first.modRevision }], ops: [{ put: key, value: 'two' }] })).toBe(true);
    expect(await a.compareAndSwap('stale swap', { compares: [{ key, modRevision: first.modRevision }], ops: [{ delete: key }] })).toBe(false);
    expect((await a.get(key))!.value.toString()).toBe('two');
    expect((await a.getAt(key, first.modRevision))!.value.toString()).toBe('one');
    const header = await a.header(key);
    expect(header.clusterId).toMatch(/^\d+$/);
    expect(BigInt(header.revision)).toBeGreaterThan(BigInt(first.modRevision));
    expect(await a.compareAndSwap('delete if present', { compares: [{ key, exists: true }], ops: [{ delete: key }] })).toBe(true);
    expect(await a.get(key)).toBeUndefined();
    await expect(a.checkWritable(key)).resolves.toBeUndefined();
    expect(await a.get(key)).toBeUndefined(); // the write check wrote nothing
  });
});

describe('failover and errors', () => {
  it('a member that never answers costs one attempt, then is skipped: later calls go to the live one at once', async () => {
    const silent = await silentMember();
    try {
      const a = adapter([silent.url, ...hosts()], 4000);
      let t0 = Date.now();
      expect(await a.get(`${ns}absent`)).toBeUndefined();
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1000); // it waited for the silent one first
      t0 = Date.now();
      for (let i = 0; i < 3; i++) expect(await a.get(`${ns}absent`)).toBeUndefined();
      expect(Date.now() - t0).toBeLessThan(1000);
    } finally {
      await silent.close();
    }
  });

  it('a cluster that does not answer: exit 3 within the deadline, saying so', async () => {
    const silent = await silentMember();
    try {
      const t0 = Date.now();
      await expect(adapter([silent.url], 2000).get('x')).rejects.toMatchObject({
        kind: 'REGISTRY',
        message: expect.stringMatching(/is unreachable or did not answer: no answer in time/),
      });
      expect(Date.now() - t0).toBeLessThan(3500);
    } finally {
      await silent.close();
    }
  });

  it("etcd's error answers and refused connections give the registry's messages", async () => {
    const errors: Record<string, [number, object]> = {
      '/v3/kv/txn': [403, { error: 'etcdserver: permission denied', code: 7, message: 'etcdserver: permission denied' }],
      '/v3/kv/range': [400, { error: 'etcdserver: user name is empty', code: 3, message: 'etcdserver: user name is empty' }],
    };
    const fake = await fakeMember((path, _body, res) => {
      const [status, body] = errors[path] ?? [404, { error: 'not found', code: 5 }];
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    try {
      const a = adapter([fake.url]);
      await expect(a.checkWritable('k')).rejects.toMatchObject({
        kind: 'REGISTRY',
        message: expect.stringMatching(/denied permission to no etcd user.*\(permission denied\)/),
      });
      await expect(a.get('k')).rejects.toMatchObject({
        message: expect.stringMatching(/requires authentication \(authentication failed: etcd\.username is unset\)/),
      });
    } finally {
      await fake.close();
    }
    const gone = await silentMember();
    await gone.close(); // its port now refuses connections
    await expect(adapter([gone.url]).get('k')).rejects.toMatchObject({ message: expect.stringMatching(/unreachable or did not answer: connection refused/) });
  });
});

describe("compaction (a dedicated etcd: the suite's own is shared)", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(1);
  });
  afterAll(async () => {
    await cluster?.close();
  });

  it('a read at a compacted revision says so; a watch from one is cancelled, saying so', async () => {
    const a = adapter(cluster.endpoints);
    const key = `${ns}compacted`;
    await a.compareAndSwap('put', { compares: [], ops: [{ put: key, value: '1' }] });
    const old = (await a.get(key))!.modRevision;
    await a.compareAndSwap('put', { compares: [], ops: [{ put: key, value: '2' }] });
    execFileSync('etcdctl', ['--endpoints', cluster.hosts, 'compact', (await a.header(key)).revision], { env: { ...process.env, ETCDCTL_API: '3' } });
    expect(await a.getAt(key, old)).toBe('compacted');
    const cancelled = await new Promise<string>((resolve) => {
      a.watchPrefix(ns, old, {
        put: () => undefined,
        delete: () => undefined,
        cancelled: (e) => resolve(String(e)),
        disconnected: (e) => resolve(`disconnected ${e}`),
        connected: () => undefined,
      });
    });
    expect(cancelled).toMatch(/Watcher canceled: .*compacted/);
  });
});

describe('watches', () => {
  it('delivers puts and deletes from a revision on', async () => {
    const a = adapter();
    const prefix = `${ns}watched/`;
    const start = String(BigInt((await a.header(prefix)).revision) + 1n);
    await a.compareAndSwap('put', { compares: [], ops: [{ put: `${prefix}a`, value: 'x' }] });
    const got: string[] = [];
    let connected = false;
    const watch = a.watchPrefix(prefix, start, {
      put: (kv) => got.push(`put ${kv.key} ${kv.value}`),
      delete: (kv) => got.push(`delete ${kv.key}`),
      cancelled: (e) => got.push(`cancelled ${e}`),
      disconnected: (e) => got.push(`disconnected ${e}`),
      connected: () => (connected = true),
    });
    await a.compareAndSwap('delete', { compares: [], ops: [{ delete: `${prefix}a` }] });
    for (let i = 0; i < 50 && got.length < 2; i++) await sleep(100);
    await watch.cancel();
    expect(connected).toBe(true);
    expect(got).toEqual([`put ${prefix}a x`, `delete ${prefix}a`]);
  });

  it('a member that answers the watch and then goes silent is noticed within 10 s', async () => {
    const created = { result: { header: { revision: '5' }, created: true } };
    const event = {
      result: {
        header: { revision: '6' },
        events: [{ kv: { key: Buffer.from('p/k').toString('base64'), value: Buffer.from('v').toString('base64'), mod_revision: '6' } }],
      },
    };
    const fake = await fakeMember((path, _body, res) => {
      if (path !== '/v3/watch') return; // every other request (the liveness probe) is never answered
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(`${JSON.stringify(created)}\n`);
      // One message in two chunks: the client must put it together.
      const text = `${JSON.stringify(event)}\n`;
      res.write(text.slice(0, 20));
      setTimeout(() => res.write(text.slice(20)), 200);
    });
    try {
      const a = adapter([fake.url]);
      const puts: string[] = [];
      const t0 = Date.now();
      const lost = await new Promise<string>((resolve) => {
        a.watchPrefix('p/', '6', {
          put: (kv) => puts.push(`${kv.key}=${kv.value}@${kv.modRevision}`),
          delete: () => undefined,
          cancelled: (e) => resolve(`cancelled ${e}`),
          disconnected: (e) => resolve(String(e)),
          connected: () => undefined,
        });
      });
      expect(puts).toEqual(['p/k=v@6']);
      expect(lost).toMatch(/stopped answering while watching/);
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      await fake.close();
    }
  }, 20_000);
});

describe('leases and elections', () => {
  it('the first candidate leads, the next waits and leads once it resigns; keys are <ns>election/<name>/<lease id>', async () => {
    const a = adapter();
    const events: string[] = [];
    const first = a.campaign(ns, 'group-x', 'one', 10);
    first.onElected(() => events.push('one elected'));
    first.onError((e) => events.push(`one error ${e.message}`));
    for (let i = 0; i < 50 && events.length === 0; i++) await sleep(100);
    const second = a.campaign(ns, 'group-x', 'two', 10);
    second.onElected(() => events.push('two elected'));
    second.onError((e) => events.push(`two error ${e.message}`));
    await sleep(1000);
    expect(events).toEqual(['one elected']);
    const [k1, k2] = [await first.key(), await second.key()];
    expect(k1).toMatch(new RegExp(`^${ns}election/group-x/\\d+$`));
    expect(Object.keys(JSON.parse(etcdctl('get', '--prefix', `${ns}election/`, '-w', 'json')).kvs ?? {})).toHaveLength(2);
    expect((await a.get(k2))!.value.toString()).toBe('two');
    await first.resign();
    for (let i = 0; i < 50 && events.length < 2; i++) await sleep(100);
    expect(events).toEqual(['one elected', 'two elected']);
    expect(await a.get(k1)).toBeUndefined();
    await second.resign();
    expect(await a.get(k2)).toBeUndefined();
  });

  it('a lease that etcd no longer knows is reported lost (the campaign errs); a kept lease holds its key until revoked', async () => {
    const a = adapter();
    const campaign = a.campaign(ns, 'group-y', 'me', 3);
    const error = new Promise<string>((resolve) => campaign.onError((e) => resolve(e.message)));
    await new Promise<void>((resolve) => campaign.onElected(resolve));
    const key = await campaign.key();
    etcdctl('lease', 'revoke', BigInt(key.split('/').pop()!).toString(16));
    const t0 = Date.now();
    expect(await error).toMatch(/lease \d+ expired/);
    expect(Date.now() - t0).toBeLessThan(3000);
    await campaign.resign().catch(() => undefined);

    const lease = a.keptLease(2);
    await a.call('put', () => lease.put(`${ns}leased`, 'v'));
    await sleep(3000); // past its TTL: kept alive
    expect((await a.get(`${ns}leased`))!.value.toString()).toBe('v');
    await lease.revoke();
    expect(await a.get(`${ns}leased`)).toBeUndefined();
  });

  it('close() ends every watch, keep-alive and campaign: the process exits at once', async () => {
    const dist = fileURLToPath(new URL('../../dist/adapters/etcd.js', import.meta.url));
    const script = `
      const { EtcdAdapter } = await import(${JSON.stringify(dist)});
      const a = new EtcdAdapter({ hosts: ${JSON.stringify(hosts())}, timeoutMs: 5000 });
      const lease = a.keptLease(30);
      await a.call('put', () => lease.put('${ns}exit/leased', 'v'));
      a.watchPrefix('${ns}exit/', '1', { put() {}, delete() {}, cancelled() {}, disconnected() {}, connected() {} });
      const one = a.campaign('${ns}exit/', 'g', 'one', 30);
      const two = a.campaign('${ns}exit/', 'g', 'two', 30);
      // One leads, the other waits on a watch of its key.
      await new Promise((r) => (one.onElected(r), two.onElected(r)));
      await new Promise((r) => setTimeout(r, 300));
      await a.close();
      console.log(Date.now());
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c) => (out += c));
    child.stderr.on('data', (c) => (err += c));
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    const exitedAt = Date.now();
    expect(code, err).toBe(0);
    expect(exitedAt - Number(out.trim())).toBeLessThan(1500);
  }, 30_000);
});
