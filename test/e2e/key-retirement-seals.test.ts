/**
 * Issue 10, a retired key keeps no signing power (the rest of it):
 * - a rotation made before seals existed never falls back to the entry's own `syncedAt` (the old
 *   key's holder controls it): its old-key entries are refused, with one line saying so, until the
 *   operator's next sync seals it from the operator's own tags;
 * - seals scale: 30,000 entries sealed in pages under `<ns>seals/<operator>/<digest>/` (the record
 *   carries the digest and count only), read by readers when they meet an old-key entry, kept in
 *   `.syncer/seals/` of the repository, and restored with the record by `reindex`;
 * - after `keys revoke` that could not re-sign (no repository there), the operator's next sync
 *   re-signs what its own tags back: the tags and the registry's entries.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { git, World, type Operator } from '../helpers/world.js';
import { operatorKey, signAd } from '../helpers/forge.js';
import { rotateRecord } from '../../src/core/operator-record.js';
import { advertisementSigningText, generateKeyPair, verifyText, type KeyPair } from '../../src/core/signing.js';

let world: World;
let b: Operator;
const D1 = '2026-10-01';
const D2 = '2026-10-02';
const key = (k: string) => `${world.namespace}${k}`;
const read = (k: string) => JSON.parse(world.etcdGet(k)[key(k)]!);
const retrieve = (op: string, date: string, into: string, hub = 'weather') =>
  b.syncer(['retrieve', '--hub', hub, '--date', date, '--operator', op, '--json', '--into', join(world.root, into)]);
const keyFile = (op: Operator) => join(op.home, '.config', 'syncer', 'keys', `${op.name}.ed25519.pem`);
const signedBy = (ad: { signature?: string } & Record<string, unknown>, k: KeyPair) => verifyText(advertisementSigningText(ad), ad.signature, k.publicKey);
/** Keys under a prefix of our namespace, through etcd3 (etcdctl's output of 30,000 entries is too large for a pipe buffer). */
async function keysUnder(prefix: string): Promise<string[]> {
  const client = new Etcd3({ hosts: world.etcdHosts.split(',') });
  try {
    return await client.getAll().prefix(key(prefix)).keys();
  } finally {
    client.close();
  }
}
const showBig = (dir: string, rev: string) => execFileSync('git', ['show', rev], { cwd: dir, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
const tagAd = (dir: string, tag: string) => JSON.parse(git(dir, 'tag', '-l', '--format=%(contents)', tag).trim());

async function syncTwoDays(op: Operator): Promise<void> {
  for (const [date, v] of [
    [D1, '1'],
    [D2, '2'],
  ] as const) {
    op.write({ 'weather/t.csv': `t\n${v}\n` });
    const r = await op.syncer(['sync', '--hub', 'weather'], { at: `${date} 10:00:00` });
    expect(r.code, r.stderr).toBe(0);
  }
}

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  b = await world.operator('lab-b');
}, 60_000);
afterAll(() => world.cleanup());

describe('a rotation made before seals existed', () => {
  let c: Operator;
  let old: KeyPair;
  beforeAll(async () => {
    c = await world.operator('lab-c');
    await syncTwoDays(c);
    expect((await retrieve('lab-c', D1, 'c-pin')).code).toBe(0); // b pins lab-c's first key
    // The rotation as syncer wrote it before seals: signed by the old key, no seal.
    old = operatorKey(c);
    const next = generateKeyPair();
    world.etcdPut('operators/lab-c', JSON.stringify(rotateRecord(read('operators/lab-c'), old, next, new Date())));
    writeFileSync(keyFile(c), next.privateKeyPem, { mode: 0o600 });
  }, 90_000);

  it('its old-key entries are refused, whatever time they claim, with one line saying the next sync seals it', async () => {
    const r = await retrieve('lab-c', D1, 'c-unsealed');
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toMatch(
      /weather\/2026-10-01\/lab-c is signed by a retired key of lab-c \(SHA256:\S+\) whose rotation has no seal \(made by an older syncer\): refused until lab-c's next syncer sync seals it/,
    );
    // A thief of the old key back-dates an entry before the rotation: refused the same way.
    const genuine = read(`datasets/weather/${D1}/lab-c`);
    world.etcdPut(
      'datasets/weather/2026-09-15/lab-c',
      JSON.stringify(signAd({ ...genuine, date: '2026-09-15', tag: 'syncer/weather/2026-09-15', syncedAt: '2026-09-15T10:00:00.000Z' }, old)),
    );
    const planted = await retrieve('lab-c', '2026-09-15', 'c-planted');
    expect(planted.code, planted.stderr).toBe(5);
    expect(planted.stderr).toMatch(/whose rotation has no seal/);
  });

  it("the operator's next sync seals it from its own tags (not the thief's entry); the old entries are valid again", async () => {
    c.write({ 'weather/t.csv': 't\n3\n' });
    const r = await c.syncer(['sync', '--hub', 'weather', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/sealed the rotation of SHA256:\S+ \(made by an older syncer, without a seal\): it vouches for the 2 entries/);
    const rotation = read('operators/lab-c').rotations[0];
    expect(rotation.sealed).toBeUndefined();
    expect(rotation).toMatchObject({ sealDigest: expect.stringMatching(/^[0-9a-f]{64}$/), sealCount: 2 });
    const pages = Object.values(world.etcdGet(`seals/lab-c/${rotation.sealDigest}/`));
    expect(pages.length).toBe(1);
    expect(Object.keys(JSON.parse(pages[0]!)).sort()).toEqual([`weather/${D1}`, `weather/${D2}`]);
    // The repository (and its remote) keep the record and the seal.
    const file = `.syncer/seals/${rotation.sealDigest}.json`;
    expect(JSON.parse(git(c.remoteDir, 'show', `main:${file}`))).toEqual(JSON.parse(pages[0]!));
    expect(JSON.parse(git(c.remoteDir, 'show', 'main:.syncer/operator.json'))).toEqual(read('operators/lab-c'));
    for (const date of [D1, D2]) {
      const got = await retrieve('lab-c', date, `c-sealed-${date}`);
      expect(got.code, got.stderr).toBe(0);
    }
    const planted = await retrieve('lab-c', '2026-09-15', 'c-planted-2');
    expect(planted.code, planted.stderr).toBe(5);
    expect(planted.stderr).toMatch(/signed by a retired key of lab-c .* that did not advertise it before its rotation/);
    // Sealed once: the next sync has nothing to seal.
    c.write({ 'weather/t.csv': 't\n4\n' });
    const again = await c.syncer(['sync', '--hub', 'weather']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/sealed|re-signed/);
  });
});

describe('keys revoke where the repository is not', () => {
  let d: Operator;
  let revoked: KeyPair;
  beforeAll(async () => {
    d = await world.operator('lab-d');
    await syncTwoDays(d);
    expect((await retrieve('lab-d', D1, 'd-pin')).code).toBe(0);
  }, 90_000);

  it('leaves the entries untrusted; the next sync re-signs what its own tags back, tags included', async () => {
    revoked = operatorKey(d);
    // The thief's entry, signed by the key being revoked; no tag of lab-d backs it.
    const genuine = read(`datasets/weather/${D1}/lab-d`);
    world.etcdPut(
      'datasets/weather/2026-09-20/lab-d',
      JSON.stringify(signAd({ ...genuine, date: '2026-09-20', tag: 'syncer/weather/2026-09-20', syncedAt: '2026-09-20T10:00:00.000Z' }, revoked)),
    );
    const elsewhere = join(world.root, 'elsewhere');
    mkdirSync(elsewhere, { recursive: true });
    git(elsewhere, 'init', '--quiet', '-b', 'main');
    const r = await d.syncer(['keys', 'revoke', '--json'], { env: { SYNCER_REPO: elsewhere } });
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ revoked: true, resigned: [] });
    expect(JSON.parse(r.stdout).left.sort()).toEqual(['weather/2026-09-20', `weather/${D1}`, `weather/${D2}`]);
    const refused = await retrieve('lab-d', D1, 'd-revoked');
    expect(refused.code, refused.stderr).toBe(5);
    expect(refused.stderr).toMatch(/signed by a revoked key of lab-d/);

    d.write({ 'weather/t.csv': 't\n3\n' });
    const s = await d.syncer(['sync', '--hub', 'weather']);
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).toMatch(/re-signed 2 entries a retired key had signed and no longer vouches for/);
    const current = operatorKey(d);
    for (const date of [D1, D2]) {
      expect(signedBy(read(`datasets/weather/${date}/lab-d`), current)).toBe(true);
      // The tags too, here and on the remote: reindex restores re-signed entries.
      expect(signedBy(tagAd(d.repo, `syncer/weather/${date}`), current)).toBe(true);
      expect(signedBy(tagAd(d.remoteDir, `syncer/weather/${date}`), current)).toBe(true);
      const got = await retrieve('lab-d', date, `d-resigned-${date}`);
      expect(got.code, got.stderr).toBe(0);
    }
    expect(signedBy(read('datasets/weather/2026-09-20/lab-d'), revoked)).toBe(true); // not ours: left as it was
    const planted = await retrieve('lab-d', '2026-09-20', 'd-planted');
    expect(planted.code, planted.stderr).toBe(5);
    // Done once: the next sync re-signs nothing.
    d.write({ 'weather/t.csv': 't\n4\n' });
    const again = await d.syncer(['sync', '--hub', 'weather']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toMatch(/re-signed/);
  });
});

describe('a seal of 30,000 entries', () => {
  let e: Operator;
  let old: KeyPair;
  const BULK = 30_000;
  const HUBS = 30;
  const dateOf = (n: number) => new Date(Date.UTC(2020, 0, 1) + n * 86_400_000).toISOString().slice(0, 10);
  beforeAll(async () => {
    e = await world.operator('lab-e');
    e.write({ 'weather/t.csv': 't\n1\n' });
    const r = await e.syncer(['sync', '--hub', 'weather'], { at: `${D1} 10:00:00` });
    expect(r.code, r.stderr).toBe(0);
    expect((await retrieve('lab-e', D1, 'e-pin')).code).toBe(0);
    old = operatorKey(e);
    // 30,000 entries signed by lab-e's key, written straight into etcd (not 30,000 syncs), 100 a transaction.
    const puts: [string, string][] = [];
    for (let n = 0; n < BULK; n++) {
      const hub = `bulk${n % HUBS}`;
      const date = dateOf(Math.floor(n / HUBS));
      const ad = signAd(
        {
          schema: 1,
          hub,
          date,
          operator: 'lab-e',
          remote: e.remoteUrl,
          branch: 'main',
          commit: createHash('sha1').update(String(n)).digest('hex'),
          tag: `syncer/${hub}/${date}`,
          path: hub,
          files: 1,
          bytes: 1,
          message: `sync ${hub} ${date}`,
          syncedAt: `${date}T10:00:00.000Z`,
          runId: 'bulk',
        },
        old,
      );
      puts.push([`${world.namespace}datasets/${hub}/${date}/lab-e`, JSON.stringify(ad)]);
    }
    const client = new Etcd3({ hosts: world.etcdHosts.split(',') });
    try {
      for (let i = 0; i < puts.length; i += 1000) {
        await Promise.all(
          Array.from({ length: 10 }, (_, j) =>
            client
              .if(key('operators/lab-e'), 'Version', '>', 0)
              .then(...puts.slice(i + j * 100, i + (j + 1) * 100).map(([k, v]) => client.put(k).value(v)))
              .commit(),
          ),
        );
      }
    } finally {
      client.close();
    }
    expect((await keysUnder('datasets/bulk0/')).length).toBe(BULK / HUBS);
  }, 180_000);

  it('keys rotate seals them in pages; the record carries the digest and count only', async () => {
    const r = await e.syncer(['keys', 'rotate', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).sealed).toBe(BULK + 1);
    const record = world.etcdGet('operators/lab-e')[key('operators/lab-e')]!;
    expect(record.length).toBeLessThan(4096);
    const rotation = JSON.parse(record).rotations[0];
    expect(rotation).toMatchObject({ sealDigest: expect.stringMatching(/^[0-9a-f]{64}$/), sealCount: BULK + 1 });
    expect(rotation.sealed).toBeUndefined();
    expect(await keysUnder(`seals/lab-e/${rotation.sealDigest}/`)).toEqual([0, 1, 2, 3].map((i) => key(`seals/lab-e/${rotation.sealDigest}/00000${i}`)));
  }, 120_000);

  it('readers accept the sealed old-key entries and refuse an unsealed one', async () => {
    const ok = await retrieve('lab-e', D1, 'e-sealed');
    expect(ok.code, ok.stderr).toBe(0);
    const genuine = read(`datasets/bulk7/${dateOf(0)}/lab-e`);
    const late = '2023-06-01';
    world.etcdPut(
      `datasets/bulk7/${late}/lab-e`,
      JSON.stringify(signAd({ ...genuine, date: late, tag: `syncer/bulk7/${late}`, syncedAt: `${late}T10:00:00.000Z` }, old)),
    );
    const ls = await b.syncer(['ls', 'bulk7', '--json']);
    expect(ls.code, ls.stderr).toBe(0);
    const dates = JSON.parse(ls.stdout).map((x: { date: string }) => x.date);
    expect(dates.length).toBe(BULK / HUBS);
    expect(dates).not.toContain(late);
    expect(ls.stderr).toMatch(/skipping bulk7\/2023-06-01\/lab-e: .*signed by a retired key of lab-e .* that did not advertise it before its rotation/);
    const refused = await retrieve('lab-e', late, 'e-unsealed', 'bulk7');
    expect(refused.code, refused.stderr).toBe(5);
    expect(refused.stderr).toMatch(/did not advertise it before its rotation/);
  }, 120_000);

  it('the next sync keeps the seal in the repository; reindex restores record, pages and the old-key entry', async () => {
    e.write({ 'weather/t.csv': 't\n2\n' });
    const s = await e.syncer(['sync', '--hub', 'weather']);
    expect(s.code, s.stderr).toBe(0);
    const record = read('operators/lab-e');
    const digest = record.rotations[0].sealDigest;
    expect(Object.keys(JSON.parse(showBig(e.remoteDir, `main:.syncer/seals/${digest}.json`))).length).toBe(BULK + 1);
    const client = new Etcd3({ hosts: world.etcdHosts.split(',') });
    try {
      await client.delete().key(key('operators/lab-e'));
      await client.delete().prefix(key('seals/lab-e/'));
      await client.delete().key(key(`datasets/weather/${D1}/lab-e`));
    } finally {
      client.close();
    }
    const r = await b.syncer(['reindex', '--remote', `lab-e=${e.remoteUrl}`, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(read('operators/lab-e')).toEqual(record);
    expect((await keysUnder(`seals/lab-e/${digest}/`)).length).toBe(4);
    expect(signedBy(read(`datasets/weather/${D1}/lab-e`), old)).toBe(true);
    const got = await retrieve('lab-e', D1, 'e-reindexed');
    expect(got.code, got.stderr).toBe(0);
  }, 180_000);
});
