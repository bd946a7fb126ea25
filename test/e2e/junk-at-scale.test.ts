/**
 * Issue 10, junk at scale: a registry holding 1,000 junk entries costs a reader one warning line
 * per kind of problem (the first in full, then a count), not 1,000 lines; --verbose lists each.
 */
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { World, type Operator } from '../helpers/world.js';

let world: World;
let a: Operator;
let b: Operator;
const JUNK = 1000;

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  [a, b] = await Promise.all([world.operator('lab-a'), world.operator('lab-b')]);
  a.write({ 'junk/t.csv': 't\n1\n' });
  const r = await a.syncer(['sync', '--hub', 'junk']);
  expect(r.code, r.stderr).toBe(0);
  const client = new Etcd3({ hosts: world.etcdHosts.split(',') });
  try {
    for (let i = 0; i < JUNK; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          client.put(`${world.namespace}datasets/junk/2026-01-01/op-${String(i + j).padStart(4, '0')}`).value(`{"not": "an advertisement" ${i + j}`),
        ),
      );
    }
  } finally {
    client.close();
  }
}, 120_000);
afterAll(() => world.cleanup());

it('ls HUB: one line for the first junk entry and one summary line, the good entry listed', async () => {
  const r = await b.syncer(['ls', 'junk']);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout).toMatch(/lab-a/);
  const lines = r.stderr.trim().split('\n');
  expect(lines.length, r.stderr.slice(0, 2000)).toBeLessThanOrEqual(4);
  expect(r.stderr).toMatch(/warning: skipping junk\/2026-01-01\/op-0000: /);
  expect(r.stderr).toMatch(/skipped 999 more entries like that .*--verbose lists each/);
});

it('--verbose lists each skipped entry', async () => {
  const r = await b.syncer(['--verbose', 'ls', 'junk']);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stderr.match(/^warning: skipping junk\//gm)?.length).toBe(JUNK);
});
