/**
 * Issue 10, a retired key keeps no signing power: after `keys rotate`, whoever holds the old key
 * cannot publish as the operator, whatever `syncedAt` the entry claims (back-dated overwrites of
 * the rotation day's entry, old dates added); the entries the old key made before stay valid
 * (sealed by the rotation, under the new key's signature). `keys revoke` for a compromised key:
 * nothing it signed is trusted, and what the operator's own tags back is re-signed.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { join } from 'node:path';
import { git, World, type Operator } from '../helpers/world.js';
import { operatorKey, signAd } from '../helpers/forge.js';
import type { KeyPair } from '../../src/core/signing.js';

let world: World;
let a: Operator;
let b: Operator;
const D1 = '2026-10-01';
const D2 = '2026-10-02';
const key = (k: string) => `${world.namespace}${k}`;
const read = (k: string) => JSON.parse(world.etcdGet(k)[key(k)]!);
const retrieve = (op: Operator, date: string, into: string, extra: string[] = []) =>
  op.syncer(['retrieve', '--hub', 'weather', '--date', date, '--operator', 'lab-a', '--json', '--into', join(world.root, into), ...extra]);

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  [a, b] = await Promise.all([world.operator('lab-a'), world.operator('lab-b')]);
  for (const [date, v] of [
    [D1, '1'],
    [D2, '2'],
  ] as const) {
    a.write({ 'weather/t.csv': `t\n${v}\n` });
    const r = await a.syncer(['sync', '--hub', 'weather'], { at: `${date} 10:00:00` });
    expect(r.code, r.stderr).toBe(0);
  }
  expect((await retrieve(b, D1, 'pin')).code).toBe(0); // b pins lab-a's first key
}, 90_000);
afterAll(() => world.cleanup());

describe('keys rotate', () => {
  let old: KeyPair;
  it('seals what the old key advertised; those entries stay valid', async () => {
    old = operatorKey(a);
    const r = await a.syncer(['keys', 'rotate', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).sealed).toBe(2);
    // The seal is in pages under <ns>seals/lab-a/<digest>/; the record carries its digest and count.
    const { sealDigest, sealCount } = read('operators/lab-a').rotations[0];
    expect(sealCount).toBe(2);
    const pages = Object.values(world.etcdGet(`seals/lab-a/${sealDigest}/`));
    expect(Object.keys(JSON.parse(pages[0]!)).sort()).toEqual([`weather/${D1}`, `weather/${D2}`]);
    for (const date of [D1, D2]) {
      const got = await retrieve(b, date, `ok-${date}`);
      expect(got.code, got.stderr).toBe(0);
    }
  });

  it('the old key cannot overwrite a sealed entry with another commit, even back-dated', async () => {
    const genuine = read(`datasets/weather/${D2}/lab-a`);
    const other = git(a.repo, 'rev-parse', 'HEAD~1');
    world.etcdPut(`datasets/weather/${D2}/lab-a`, JSON.stringify(signAd({ ...genuine, commit: other, syncedAt: `${D2}T09:00:00.000Z` }, old)));
    try {
      const r = await retrieve(b, D2, 'evil-overwrite');
      expect(r.code, r.stderr).toBe(5);
      expect(r.stderr).toMatch(/signed by a retired key of lab-a .* that did not advertise it before its rotation/);
    } finally {
      world.etcdPut(`datasets/weather/${D2}/lab-a`, JSON.stringify(genuine));
    }
  });

  it('the old key cannot add an old date, whatever syncedAt it claims', async () => {
    const genuine = read(`datasets/weather/${D1}/lab-a`);
    const planted = signAd({ ...genuine, date: '2026-09-15', tag: 'syncer/weather/2026-09-15', syncedAt: '2026-09-15T10:00:00.000Z' }, old);
    world.etcdPut('datasets/weather/2026-09-15/lab-a', JSON.stringify(planted));
    const r = await retrieve(b, '2026-09-15', 'evil-old-date');
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/retired key/);
    const ls = await b.syncer(['ls', 'weather', '--json']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).not.toContain('2026-09-15');
  });
});

describe('keys revoke', () => {
  it('nothing the revoked key signed is trusted; the entries the repository backs are re-signed', async () => {
    const compromised = operatorKey(a);
    // The thief plants an entry with the (still current) key; lab-a's repository has no tag for it.
    const genuine = read(`datasets/weather/${D1}/lab-a`);
    const planted = signAd({ ...genuine, date: '2026-09-20', tag: 'syncer/weather/2026-09-20', syncedAt: '2026-09-20T10:00:00.000Z' }, compromised);
    world.etcdPut('datasets/weather/2026-09-20/lab-a', JSON.stringify(planted));
    const r = await a.syncer(['keys', 'revoke', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.revoked).toBe(true);
    expect(out.left).toContain('weather/2026-09-20');
    expect(r.stderr).toMatch(/not re-signing weather\/2026-09-20/);
    // What lab-a synced after the first rotation is signed by the revoked key, and re-signed now.
    expect(read('operators/lab-a').rotations.at(-1).revoked).toBe(true);
    const planted2 = await retrieve(b, '2026-09-20', 'evil-revoked');
    expect(planted2.code, planted2.stderr).toBe(5);
    expect(planted2.stderr).toMatch(/revoked key/);
    for (const date of [D1, D2]) {
      const got = await retrieve(b, date, `after-revoke-${date}`);
      expect(got.code, got.stderr).toBe(0);
    }
  });
});
