/**
 * Issue 10, "State that survives": a `watch --state` file that is corrupt, and an etcd wiped and
 * restarted on the same URL (under a running watch, and between two runs with the same state).
 * The real binary as a child, real etcd (the suite's, or one started here that the test wipes),
 * real syncs; what is asserted is what a user sees: events on stdout, exit codes, messages.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { World, type Operator } from '../helpers/world.js';
import { killWatchers, startWatcher, type WatcherProcess } from '../helpers/watcher.js';
import { freePort } from '../helpers/etcd.js';

afterAll(() => killWatchers());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function etcdctl(endpoints: string, ...args: string[]): string {
  return execFileSync('etcdctl', ['--endpoints', endpoints, '--dial-timeout=2s', '--command-timeout=5s', ...args], {
    encoding: 'utf8',
    env: { ...process.env, ETCDCTL_API: '3' },
  });
}

interface Synced {
  key: string;
  id: string;
  commit: string;
}

let seq = 0;
/** `op` syncs `hub` at a faked time (UTC), with fresh content, into the etcd at `hosts`. */
async function sync(world: World, op: Operator, hub: string, at: string, hosts = world.etcdHosts): Promise<Synced> {
  seq += 1;
  op.write({ [`${hub}/data.csv`]: `n,at\n${seq},${at}\n` });
  const r = await op.syncer(['sync', '--hub', hub, '--json'], { at, env: { TZ: 'UTC', SYNCER_ETCD_HOSTS: hosts } });
  expect(r.code, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout) as { date: string; commit: string };
  const key = `${world.namespace}datasets/${hub}/${out.date}/${op.name}`;
  const got = JSON.parse(etcdctl(hosts, 'get', key, '-w', 'json')) as { kvs: { mod_revision: number }[] };
  return { key, id: `${key}@${got.kvs[0]!.mod_revision}`, commit: out.commit };
}

const ids = (events: { id: string }[]) => events.map((e) => e.id);
const keyOf = (id: string) => id.slice(0, id.lastIndexOf('@'));

/** Wait until the watcher exits (fail with its output if it does not). */
async function exitOf(w: WatcherProcess, timeoutMs = 20_000): Promise<number> {
  await w
    .waitUntil('the watcher to exit', () => false, timeoutMs)
    .catch((e: Error) => {
      if (w.running) throw e;
    });
  return w.exited;
}

describe('a corrupt --state file', () => {
  let world: World;
  let a: Operator;
  let w: Operator;
  beforeAll(async () => {
    world = new World(inject('etcdHosts'));
    [a, w] = await Promise.all([world.operator('lab-a'), world.operator('lab-w')]);
  });
  afterAll(() => world.cleanup());

  it('is refused with exit 2 naming the file and the fix, and left as it was; the fix delivers what was published while stopped', async () => {
    const state = join(world.root, 'state.json');
    const first = startWatcher(w, ['--state', state]);
    await first.waitForStderr(/watching/);
    const d1 = await sync(world, a, 'weather', '2026-05-01 12:00:00');
    await first.waitForEvents(1);
    expect(await first.stop()).toBe(130);

    // While stopped: a new advertisement. Then the state file is damaged in three ways.
    const d2 = await sync(world, a, 'weather', '2026-05-02 12:00:00');
    const good = readFileSync(state, 'utf8');
    for (const damaged of [good.slice(0, Math.floor(good.length / 2)), '\u0000\u0000garbage\u00ff', '', '{"revision": "12"}']) {
      writeFileSync(state, damaged);
      const again = startWatcher(w, ['--state', state], { name: `watcher with state ${JSON.stringify(damaged.slice(0, 20))}` });
      expect(await exitOf(again), again.describe()).toBe(2);
      expect(again.events, again.describe()).toEqual([]);
      expect(again.stderr).toContain(state);
      expect(again.stderr).toMatch(/--from-start/);
      expect(readFileSync(state, 'utf8')).toBe(damaged); // never overwritten
    }

    // The fix the message gives: move it aside and start again with --from-start.
    renameSync(state, `${state}.bad`);
    const fixed = startWatcher(w, ['--from-start', '--state', state]);
    await fixed.waitForEvents(2);
    expect(await fixed.stop()).toBe(130);
    expect(ids(fixed.events).sort()).toEqual([d1.id, d2.id].sort());
  });

  it('is never left half-written by a crash: SIGKILLed watchers restart from a readable position and miss nothing', async () => {
    const state = join(world.root, 'state-crash.json');
    const synced: Synced[] = [];
    for (let i = 1; i <= 3; i++) synced.push(await sync(world, a, 'crash', `2026-05-1${i} 12:00:00`));
    // Killed at different points of its first re-list and saves.
    for (const ms of [300, 700, 1200]) {
      const w1 = startWatcher(w, ['--from-start', '--hub', 'crash', '--state', state]);
      await sleep(ms);
      await w1.kill();
    }
    const last = startWatcher(w, ['--from-start', '--hub', 'crash', '--state', state]);
    await last.waitForStderr(/watching/);
    const d4 = await sync(world, a, 'crash', '2026-05-14 12:00:00');
    await last.waitForEvent(d4.id, (e) => e.id === d4.id);
    expect(await last.stop()).toBe(130);
    expect(last.stderr).not.toMatch(/cannot read|corrupt/);
    expect(readdirSync(world.root).filter((f) => f.startsWith('state-crash.json.') && f.endsWith('.tmp'))).toEqual([]);
    JSON.parse(readFileSync(state, 'utf8'));
  });
});

/** One etcd member on fixed ports, which the test can wipe and start again as a new cluster. */
class Etcd {
  proc?: ChildProcess;
  readonly root = mkdtempSync(join(tmpdir(), 'syncer-etcd-wipe-'));
  readonly dataDir = join(this.root, 'data');
  url = '';
  peer = '';
  async init(): Promise<void> {
    this.url = `http://127.0.0.1:${await freePort()}`;
    this.peer = `http://127.0.0.1:${await freePort()}`;
  }
  /** Start on `url` (default: its own) as the cluster made with `token` (used only for a new data dir). */
  async start(token: string, url = this.url): Promise<void> {
    this.proc = spawn(
      process.env.SYNCER_ETCD_BIN || 'etcd',
      [
        '--name',
        'm0',
        '--data-dir',
        this.dataDir,
        '--listen-client-urls',
        url,
        '--advertise-client-urls',
        url,
        '--listen-peer-urls',
        this.peer,
        '--initial-advertise-peer-urls',
        this.peer,
        '--initial-cluster',
        `m0=${this.peer}`,
        '--initial-cluster-token',
        token,
        '--initial-cluster-state',
        'new',
        '--heartbeat-interval',
        '50',
        '--election-timeout',
        '500',
        '--log-level',
        'error',
      ],
      { stdio: 'ignore' },
    );
    const deadline = Date.now() + 20_000;
    while (Date.now() < deadline) {
      try {
        if ((await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) })).ok) return;
      } catch {
        /* not yet */
      }
      await sleep(100);
    }
    throw new Error(`etcd did not become healthy at ${url}`);
  }
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await Promise.race([exited, sleep(5000)]);
    if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }
  status(url = this.url): { clusterId: string; revision: number } {
    const s = JSON.parse(etcdctl(url, 'endpoint', 'status', '-w', 'json')) as { Status: { header: { cluster_id: number | string; revision: number } } }[];
    return { clusterId: String(s[0]!.Status.header.cluster_id), revision: s[0]!.Status.header.revision };
  }
  /**
   * Wipe the data and start a new cluster (made with `token`) on the same URL, first filled, on a
   * port no watcher knows, by `restore` (so that a watcher cannot see the new registry before it is).
   */
  async wipe(token: string, restore: (url: string) => Promise<void>): Promise<void> {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
    const side = `http://127.0.0.1:${await freePort()}`;
    await this.start(token, side);
    await restore(side);
    await this.stop();
    await this.start(token);
  }
  async close(): Promise<void> {
    await this.stop();
    rmSync(this.root, { recursive: true, force: true });
  }
}

/** Files under `dir` (recursively) whose name matches `name`. */
function findFiles(dir: string, name: RegExp): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((rel) => name.test(rel.split('/').pop()!))
    .map((rel) => join(dir, rel));
}

/** Every key and value under `prefix` (a backup). */
function backup(url: string, prefix: string): [string, string][] {
  const out = JSON.parse(etcdctl(url, 'get', '--prefix', prefix, '-w', 'json')) as { kvs?: { key: string; value?: string }[] };
  return (out.kvs ?? []).map((kv) => [Buffer.from(kv.key, 'base64').toString(), Buffer.from(kv.value ?? '', 'base64').toString()]);
}

function restoreKeys(url: string, kvs: [string, string][], without: string[] = []): void {
  for (const [key, value] of kvs) if (!without.includes(key)) etcdctl(url, 'put', key, '--', value);
}

/** Writes outside the namespace, to move the revision on. */
function filler(url: string, n: number): void {
  for (let i = 0; i < n; i += 1) etcdctl(url, 'put', `filler/${i}`, `x${i}`);
}

describe('etcd wiped and restarted on the same URL (dedicated etcd)', () => {
  const etcd = new Etcd();
  let world: World;
  let a: Operator;
  let w: Operator;
  const state = () => join(world.root, 'state.json');
  let d1: Synced;
  let d2: Synced;
  let d3: Synced;
  let d4: Synced;

  beforeAll(async () => {
    await etcd.init();
    await etcd.start('one');
    world = new World(etcd.url);
    [a, w] = await Promise.all([world.operator('lab-a'), world.operator('lab-w')]);
  });
  afterAll(async () => {
    await killWatchers();
    await etcd.close();
    world?.cleanup();
  });

  it(
    'under a running watch, a different cluster (restored from a backup) is noticed, warned about once, and re-listed: its writes are delivered, ' +
      'what was delivered is not again',
    async () => {
      const watcher = startWatcher(w, ['--state', state()]);
      await watcher.waitForStderr(/watching/);
      d1 = await sync(world, a, 'weather', '2026-06-01 12:00:00');
      d2 = await sync(world, a, 'weather', '2026-06-02 12:00:00');
      filler(etcd.url, 20); // the old registry is well ahead of the new one
      await watcher.waitForEvents(2);
      const before = etcd.status();

      // The registry is restored from a backup without d2 into a new cluster, and d3 is published
      // there before the watcher can reach it: its first writes are at revisions the watcher has passed.
      const saved = backup(etcd.url, world.namespace);
      await etcd.wipe('two', async (side) => {
        restoreKeys(side, saved, [d2.key]);
        d3 = await sync(world, a, 'weather', '2026-06-03 12:00:00', side);
      });
      const after = etcd.status();
      expect(after.clusterId).not.toBe(before.clusterId);
      expect(after.revision).toBeLessThan(before.revision);

      await watcher.waitForEvent(`put ${d3.id}`, (e) => e.id === d3.id, 30_000);
      await watcher.waitForEvent(`delete of ${d2.key}`, (e) => e.type === 'delete' && keyOf(e.id) === d2.key);
      // ...and goes on watching the new registry.
      d4 = await sync(world, a, 'weather', '2026-06-04 12:00:00');
      await watcher.waitForEvent(`put ${d4.id}`, (e) => e.id === d4.id);
      expect(await watcher.stop()).toBe(130);
      expect(watcher.events.map((e) => `${e.type} ${keyOf(e.id)}`)).toEqual([
        `put ${d1.key}`,
        `put ${d2.key}`,
        // the re-list, oldest first, removals last
        `put ${d3.key}`,
        `delete ${d2.key}`,
        `put ${d4.key}`,
      ]);
      expect(watcher.stderr.match(/different etcd cluster/g), watcher.stderr).toHaveLength(1);
      expect(watcher.stderr).toMatch(/re-list/);
    },
  );

  it('between two runs with the same --state: the same cluster ID but a revision that went backwards is noticed and re-listed', async () => {
    // A watcher of a hub with nothing in it yet: no known key to compare, only the revision.
    const rainState = join(world.root, 'state-rain.json');
    filler(etcd.url, 40);
    const rain = startWatcher(w, ['--hub', 'rain', '--state', rainState], { name: 'rain watcher' });
    await rain.waitForStderr(/watching/);
    expect(await rain.stop()).toBe(130);

    const before = etcd.status();
    const saved = backup(etcd.url, world.namespace);
    let d5: Synced | undefined;
    let d6: Synced | undefined;
    await etcd.wipe('two', async (side) => {
      restoreKeys(side, saved, [d3.key]);
      d5 = await sync(world, a, 'soil', '2026-06-05 12:00:00', side);
      d6 = await sync(world, a, 'rain', '2026-06-05 13:00:00', side);
    });
    const after = etcd.status();
    expect(after.clusterId).toBe(before.clusterId); // same name, peer URL and token: etcd gives the same ID
    expect(after.revision).toBeLessThan(before.revision);

    const watcher = startWatcher(w, ['--state', state()]);
    const rain2 = startWatcher(w, ['--hub', 'rain', '--state', rainState], { name: 'rain watcher, again' });
    await rain2.waitForEvent(`put ${d6!.id}`, (e) => e.id === d6!.id, 30_000);
    await watcher.waitForEvent(`delete of ${d3.key}`, (e) => e.type === 'delete' && keyOf(e.id) === d3.key, 30_000);
    await sleep(500);
    expect(await watcher.stop()).toBe(130);
    expect(await rain2.stop()).toBe(130);
    expect(watcher.events.map((e) => `${e.type} ${keyOf(e.id)}`)).toEqual([`put ${d5!.key}`, `put ${d6!.key}`, `delete ${d3.key}`]);
    expect(ids(rain2.events)).toEqual([d6!.id]);
    expect(rain2.stderr.match(/went backwards/g), rain2.stderr).toHaveLength(1);
    expect(watcher.stderr.match(/wiped or restored/g), watcher.stderr).toHaveLength(1);
  });

  it('between two runs: the same cluster ID and a revision already past the saved one is noticed by the history of a known key', async () => {
    const saved = backup(etcd.url, world.namespace);
    let d6: Synced | undefined;
    await etcd.wipe('two', async (side) => {
      filler(side, 60); // past the saved position before anything of the registry is restored
      restoreKeys(side, saved, [d1.key]);
      d6 = await sync(world, a, 'soil', '2026-06-06 12:00:00', side);
    });
    const watcher = startWatcher(w, ['--state', state()]);
    await watcher.waitForEvent(`put ${d6!.id}`, (e) => e.id === d6!.id, 30_000);
    await watcher.waitForEvent(`delete of ${d1.key}`, (e) => e.type === 'delete' && keyOf(e.id) === d1.key);
    await sleep(500);
    expect(await watcher.stop()).toBe(130);
    expect(watcher.events.map((e) => `${e.type} ${keyOf(e.id)}`)).toEqual([`put ${d6!.key}`, `delete ${d1.key}`]);
    expect(watcher.stderr.match(/wiped or restored/g), watcher.stderr).toHaveLength(1);
    expect(watcher.stderr).toMatch(/was not written at revision \d+ there/);
  });
});

describe('watch --group and an etcd wiped between runs (dedicated etcd)', () => {
  const etcd = new Etcd();
  let world: World;
  let a: Operator;
  let w: Operator;

  beforeAll(async () => {
    await etcd.init();
    await etcd.start('one');
    world = new World(etcd.url);
    [a, w] = await Promise.all([world.operator('lab-a'), world.operator('lab-w')]);
  });
  afterAll(async () => {
    await killWatchers();
    await etcd.close();
    world?.cleanup();
  });

  it('the wipe takes the group position from etcd; the copy the leader kept re-lists and delivers what was published while stopped, once', async () => {
    const group = startWatcher(w, ['--group', 'loaders', '--hub', 'sea'], { name: 'group watcher' });
    await group.waitForStderr(/watching/);
    const d7 = await sync(world, a, 'sea', '2026-06-07 12:00:00');
    await group.waitForEvent(`put ${d7.id}`, (e) => e.id === d7.id);
    expect(await group.stop()).toBe(130);

    // Wiped: the registry's advertisements come back, the group's position and election do not.
    const saved = backup(etcd.url, world.namespace).filter(
      ([key]) => !key.startsWith(`${world.namespace}watch/`) && !key.startsWith(`${world.namespace}election/`),
    );
    let d8: Synced | undefined;
    await etcd.wipe('three', async (side) => {
      restoreKeys(side, saved);
      d8 = await sync(world, a, 'sea', '2026-06-08 12:00:00', side);
    });
    expect(backup(etcd.url, `${world.namespace}watch/`)).toEqual([]);

    const again = startWatcher(w, ['--group', 'loaders', '--hub', 'sea'], { name: 'group watcher, again' });
    await again.waitForEvent(`put ${d8!.id}`, (e) => e.id === d8!.id, 30_000);
    await sleep(500);
    expect(await again.stop()).toBe(130);
    // d7 was delivered before the wipe (same key, same commit): not again.
    expect(ids(again.events)).toEqual([d8!.id]);
    expect(again.stderr.match(/re-listing/g), again.stderr).toHaveLength(1);
    expect(again.stderr).toMatch(/the position of watch group loaders is gone from etcd/);
  }, 120_000);

  it('a corrupt copy of the group position is refused with exit 2 naming it, and left as it was', async () => {
    const copies = findFiles(w.home, /^group-[0-9a-f]+\.json$/);
    expect(copies).toHaveLength(1);
    const copy = copies[0]!;
    const good = readFileSync(copy, 'utf8');
    writeFileSync(copy, good.slice(0, Math.floor(good.length / 2)));
    const r = await w.syncer(['watch', '--group', 'loaders', '--hub', 'sea'], { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain(`the copy of the position of watch group loaders in ${copy} is corrupt`);
    expect(readFileSync(copy, 'utf8')).toBe(good.slice(0, Math.floor(good.length / 2)));
    writeFileSync(copy, good);
  });
});

describe('a corrupt --group position in etcd', () => {
  it('is refused with exit 2 naming the key, never taken for "no position"', async () => {
    const world = new World(inject('etcdHosts'));
    try {
      const w = await world.operator('lab-g');
      world.etcdPut('watch/groups/loaders/position', '{"revision": "12", "kno');
      const r = await w.syncer(['watch', '--group', 'loaders'], { timeoutMs: 30_000 });
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/the position of watch group loaders in etcd \(.*watch\/groups\/loaders\/position\) is corrupt/);
      expect(r.stderr).toMatch(/etcdctl del /);
    } finally {
      world.cleanup();
    }
  }, 60_000);
});
