/**
 * Issue 10, rollback: an operator's older, genuinely signed same-day advertisement, replayed with
 * the unsigned `remote` pointing at a copy of the old tag, must not take a reader's checkout back
 * in time (retrieve, and watch --retrieve, which updates the same checkout); --allow-older does.
 */
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { cpSync } from 'node:fs';
import { join } from 'node:path';
import { git, World, type Operator } from '../helpers/world.js';

let world: World;
let a: Operator;
let b: Operator;
const D = '2026-10-05';
const key = (k: string) => `${world.namespace}${k}`;
const read = (k: string) => JSON.parse(world.etcdGet(k)[key(k)]!);
let older: Record<string, unknown>;
let copy: string;

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  [a, b] = await Promise.all([world.operator('lab-a'), world.operator('lab-b')]);
  a.write({ 'weather/t.csv': 't\nold\n' });
  expect((await a.syncer(['sync', '--hub', 'weather'], { at: `${D} 10:00:00` })).code).toBe(0);
  older = read(`datasets/weather/${D}/lab-a`);
  copy = join(world.root, 'copy-of-old.git');
  cpSync(a.remoteDir, copy, { recursive: true }); // what a peer could have kept of the old tag
  a.write({ 'weather/t.csv': 't\nnew\n' });
  expect((await a.syncer(['sync', '--hub', 'weather'], { at: `${D} 11:00:00` })).code).toBe(0);
}, 60_000);
afterAll(() => world.cleanup());

const into = () => join(world.root, 'checkout');
const retrieve = (extra: string[] = []) => b.syncer(['retrieve', '--hub', 'weather', '--date', D, '--operator', 'lab-a', '--json', '--into', into(), ...extra]);

it('a replayed older same-day advertisement does not roll a checkout back (exit 5); --allow-older does', async () => {
  const first = await retrieve();
  expect(first.code, first.stderr).toBe(0);
  const newer = git(into(), 'rev-parse', 'HEAD');
  const current = read(`datasets/weather/${D}/lab-a`);
  world.etcdPut(`datasets/weather/${D}/lab-a`, JSON.stringify({ ...older, remote: `file://${copy}` }));
  try {
    const r = await retrieve();
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/refusing to take .* back in time/);
    expect(git(into(), 'rev-parse', 'HEAD'), 'the checkout is as it was').toBe(newer);
    const forced = await retrieve(['--allow-older']);
    expect(forced.code, forced.stderr).toBe(0);
    expect(git(into(), 'rev-parse', 'HEAD')).toBe(older.commit);
  } finally {
    world.etcdPut(`datasets/weather/${D}/lab-a`, JSON.stringify(current));
  }
});

it('watch: a replayed older advertisement of a key it delivered is skipped with a warning, not delivered', async () => {
  const { startWatcher, killWatchers } = await import('../helpers/watcher.js');
  const w = await world.operator('lab-w');
  const state = join(world.root, 'watch-state.json');
  const watcher = startWatcher(w, ['--hub', 'weather', '--state', state, '--from-start']);
  try {
    const first = await watcher.waitForEvents(1);
    expect(first[0]).toMatchObject({ type: 'put', hub: 'weather', date: D, operator: 'lab-a' });
    const current = read(`datasets/weather/${D}/lab-a`);
    expect(first[0]!.commit).toBe(current.commit);
    world.etcdPut(`datasets/weather/${D}/lab-a`, JSON.stringify({ ...older, remote: `file://${copy}` }));
    await watcher.waitForStderr(/skipping weather\/2026-10-05\/lab-a: synced at .* older than the entry already delivered/);
    // The genuine newer entry back (as the operator's next sync would write it): delivered again.
    world.etcdPut(`datasets/weather/${D}/lab-a`, JSON.stringify(current));
    const events = await watcher.waitForEvents(2);
    expect(events.map((e) => e.commit)).toEqual([current.commit, current.commit]);
  } finally {
    await killWatchers();
  }
}, 60_000);

it('mirror: a replayed older advertisement does not roll the archive back', async () => {
  const m = await world.operator('lab-m');
  const archive = join(world.root, 'archive.git');
  const current = read(`datasets/weather/${D}/lab-a`);
  const first = await m.syncer(['mirror', '--to', archive, '--hub', 'weather']);
  expect(first.code, first.stderr).toBe(0);
  const tag = `refs/tags/lab-a/weather/${D}`;
  expect(git(archive, 'rev-parse', `${tag}^{commit}`)).toBe(current.commit);
  world.etcdPut(`datasets/weather/${D}/lab-a`, JSON.stringify({ ...older, remote: `file://${copy}` }));
  try {
    const again = await m.syncer(['mirror', '--to', archive, '--hub', 'weather']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/skipping weather\/2026-10-05\/lab-a: synced at .* older than the entry already mirrored/);
    expect(git(archive, 'rev-parse', `${tag}^{commit}`), 'the archive keeps the newer commit').toBe(current.commit);
  } finally {
    world.etcdPut(`datasets/weather/${D}/lab-a`, JSON.stringify(current));
  }
}, 60_000);

it("mirror: in-progress markers planted for 2099 neither show in ls --all nor fix a hub's window (floor) there", async () => {
  const m = await world.operator('lab-m2');
  const archive = join(world.root, 'archive-floor.git');
  for (const d of ['2099-01-01', '2099-01-02', '2099-01-03'])
    world.etcdPut(`inprogress/weather/${d}/ghost`, JSON.stringify({ runId: 'x', startedAt: '2026-01-01T00:00:00Z' }));
  const r = await m.syncer(['mirror', '--to', archive, '--hub', 'weather', '--initial-sync-limit', '3', '--json']);
  expect(r.code, r.stderr).toBe(0);
  expect(git(archive, 'rev-parse', `refs/tags/lab-a/weather/${D}^{commit}`), 'the real entry is archived').toBe(read(`datasets/weather/${D}/lab-a`).commit);
  const ls = await m.syncer(['ls', 'weather', '--all', '--json']);
  expect(ls.code, ls.stderr).toBe(0);
  expect(ls.stdout).not.toContain('2099');
}, 60_000);
