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
