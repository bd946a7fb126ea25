/**
 * Authenticity: advertisements and operator records are signed; readers pin keys on first use,
 * follow signed rotations, and refuse forgeries (retrieve exit 5; ls skips with a warning).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { git, World, type Operator } from '../helpers/world.js';
import { freshKey, operatorKey, signAd } from '../helpers/forge.js';
import { signRecord } from '../../src/core/operator-record.js';
import { fingerprint } from '../../src/core/signing.js';

let world: World;
let a: Operator;
let b: Operator;
let c: Operator;
const DATE = '2026-11-05';
const key = (k: string) => `${world.namespace}${k}`;
const read = (k: string) => JSON.parse(world.etcdGet(k)[key(k)]!);

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  [a, b, c] = await Promise.all([world.operator('lab-a'), world.operator('lab-b'), world.operator('lab-c')]);
  a.write({ 'weather/t.csv': 't\n1\n' });
  const r = await a.syncer(['sync', '--hub', 'weather'], { at: `${DATE} 10:00:00` });
  expect(r.code, r.stderr).toBe(0);
  c.write({ 'weather/t.csv': 't\nc\n' });
  expect((await c.syncer(['sync', '--hub', 'weather'], { at: `${DATE} 11:00:00` })).code).toBe(0);
});
afterAll(() => world.cleanup());

describe('signing', () => {
  it('init made an ed25519 key (0600, outside the repo); sync signed the entry, the tag and the operator record', async () => {
    const keyFile = join(a.home, '.config', 'syncer', 'keys', 'lab-a.ed25519.pem');
    expect(statSync(keyFile).mode & 0o777).toBe(0o600);
    expect(git(a.remoteDir, 'ls-tree', '-r', '--name-only', 'main')).not.toMatch(/\.pem|keys\//);
    expect(git(a.remoteDir, 'log', '--all', '-p')).not.toMatch(/PRIVATE KEY/);
    const ad = read(`datasets/weather/${DATE}/lab-a`);
    expect(ad.signature).toMatch(/^ed25519:/);
    const tagAd = JSON.parse(git(a.remoteDir, 'tag', '-l', '--format=%(contents)', `syncer/weather/${DATE}`));
    expect(tagAd.signature).toBe(ad.signature);
    const record = read('operators/lab-a');
    expect(record.publicKey).toBe(operatorKey(a).publicKey);
    expect(record.signature).toMatch(/^ed25519:/);
    expect(JSON.parse(git(a.remoteDir, 'show', 'main:.syncer/operator.json'))).toEqual(record);
    const shown = await a.syncer(['keys', 'show', '--json']);
    expect(JSON.parse(shown.stdout)).toMatchObject({ operator: 'lab-a', publicKey: record.publicKey, fingerprint: fingerprint(record.publicKey) });
    expect(shown.stdout + shown.stderr).not.toMatch(/PRIVATE/);
  });

  it('a reader pins the key on first use; operators shows fingerprints and pin state', async () => {
    const before = JSON.parse((await b.syncer(['operators', '--json'])).stdout);
    expect(before.find((o: { operator: string }) => o.operator === 'lab-a')).toMatchObject({
      fingerprint: fingerprint(operatorKey(a).publicKey),
      pin: 'not pinned',
    });
    const r = await b.syncer(['retrieve', '--hub', 'weather', '--date', DATE, '--operator', 'lab-a', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const pins = JSON.parse(readFileSync(join(b.home, '.config', 'syncer', 'known_operators.json'), 'utf8'));
    expect(JSON.stringify(pins)).toContain(operatorKey(a).publicKey);
    const after = JSON.parse((await b.syncer(['operators', '--json'])).stdout);
    expect(after.find((o: { operator: string }) => o.operator === 'lab-a').pin).toBe('pinned');
  });
});

describe('forgeries', () => {
  it('an advertisement signed by another key: retrieve exit 5, ls skips it with a warning and lists the rest', async () => {
    const genuine = read(`datasets/weather/${DATE}/lab-a`);
    world.etcdPut(`datasets/weather/${DATE}/lab-a`, JSON.stringify(signAd({ ...genuine, message: 'forged' }, freshKey())));
    const r = await b.syncer(['retrieve', '--hub', 'weather', '--date', DATE, '--operator', 'lab-a', '--into', join(world.root, 'f1')]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/bad signature/);
    expect(existsSync(join(world.root, 'f1'))).toBe(false);
    const ls = await b.syncer(['ls', 'weather', DATE, '--json']);
    expect(ls.code).toBe(0);
    expect(JSON.parse(ls.stdout).map((e: { operator: string }) => e.operator)).toEqual(['lab-c']);
    expect(ls.stderr).toMatch(/warning: skipping weather\/2026-11-05\/lab-a: .*bad signature/);
    world.etcdPut(`datasets/weather/${DATE}/lab-a`, JSON.stringify(genuine));
  });

  it('a changed field under a genuine signature is refused (the commit)', async () => {
    const genuine = read(`datasets/weather/${DATE}/lab-a`);
    world.etcdPut(`datasets/weather/${DATE}/lab-a`, JSON.stringify({ ...genuine, commit: git(a.repo, 'rev-parse', 'HEAD~1') }));
    const r = await b.syncer(['retrieve', '--hub', 'weather', '--date', DATE, '--operator', 'lab-a', '--into', join(world.root, 'f2')]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/bad signature/);
    world.etcdPut(`datasets/weather/${DATE}/lab-a`, JSON.stringify(genuine));
  });

  it('an unsigned advertisement: exit 5, or accepted with --allow-unsigned', async () => {
    const genuine = read(`datasets/weather/${DATE}/lab-a`);
    const unsigned = { ...genuine };
    delete unsigned.signature;
    world.etcdPut(`datasets/weather/${DATE}/lab-a`, JSON.stringify(unsigned));
    const r = await b.syncer(['retrieve', '--hub', 'weather', '--date', DATE, '--operator', 'lab-a', '--into', join(world.root, 'f3')]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/not signed/);
    const ok = await b.syncer(['retrieve', '--hub', 'weather', '--date', DATE, '--operator', 'lab-a', '--into', join(world.root, 'f3'), '--allow-unsigned']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/not signed; accepted/);
    world.etcdPut(`datasets/weather/${DATE}/lab-a`, JSON.stringify(genuine));
  });

  it('a hijacked operator record (another key, no signed rotation): a reader who pinned refuses; --accept-key overrides', async () => {
    const genuineRecord = read('operators/lab-a');
    const genuineAd = read(`datasets/weather/${DATE}/lab-a`);
    const evil = freshKey();
    world.etcdPut(
      'operators/lab-a',
      JSON.stringify(
        signRecord(
          { operator: 'lab-a', remote: genuineRecord.remote, publicKey: evil.publicKey, registeredAt: genuineRecord.registeredAt },
          evil.privateKeyPem,
        ),
      ),
    );
    world.etcdPut(`datasets/weather/${DATE}/lab-a`, JSON.stringify(signAd({ ...genuineAd, message: 'evil' }, evil)));
    const r = await b.syncer(['retrieve', '--hub', 'weather', '--date', DATE, '--operator', 'lab-a', '--into', join(world.root, 'f4')]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/key of lab-a changed/);
    const ops = JSON.parse((await b.syncer(['operators', '--json'])).stdout);
    expect(ops.find((o: { operator: string }) => o.operator === 'lab-a').pin).toBe('CHANGED');
    // The tag in lab-a's remote still carries the genuine advertisement: even accepting the key,
    // the registry's (evil) advertisement disagrees with the tag and is refused.
    const accepted = await b.syncer(['retrieve', '--hub', 'weather', '--date', DATE, '--operator', 'lab-a', '--into', join(world.root, 'f4'), '--accept-key']);
    expect(accepted.code).toBe(5);
    expect(accepted.stderr).toMatch(/accepted a changed key/);
    expect(accepted.stderr).toMatch(/differs from the registry/);
    world.etcdPut('operators/lab-a', JSON.stringify(genuineRecord));
    world.etcdPut(`datasets/weather/${DATE}/lab-a`, JSON.stringify(genuineAd));
    // b re-pinned the evil key with --accept-key: the genuine record is now "changed" for b.
    const back = await b.syncer([
      'retrieve',
      '--hub',
      'weather',
      '--date',
      DATE,
      '--operator',
      'lab-a',
      '--into',
      join(world.root, 'f5'),
      '--accept-key',
      '--json',
    ]);
    expect(back.code, back.stderr).toBe(0);
  });

  it('another machine claiming a registered name with another key is refused before anything is pushed', async () => {
    const impostor = await world.operator('imp', { init: false });
    const cfg = join(world.root, 'imp.json');
    const init = await impostor.syncer(['init', '--config', cfg, '--operator', 'lab-a', '--repo', impostor.repo, '--import-dir', impostor.importDir]);
    expect(init.code).toBe(5);
    expect(init.stderr).toMatch(/another key for operator lab-a/);
    expect(existsSync(cfg)).toBe(false);
    impostor.write({ 'weather/t.csv': 'evil\n' });
    const s = await impostor.syncer(['sync', '--hub', 'weather'], { env: { SYNCER_OPERATOR: 'lab-a', SYNCER_REPO: impostor.repo } });
    expect(s.code).toBe(5);
    expect(() => git(impostor.remoteDir, 'rev-parse', '--verify', 'main')).toThrow();
  });
});

describe('key rotation', () => {
  it('rotates with a statement signed by the old key; readers follow without action; old entries stay valid', async () => {
    const old = operatorKey(c);
    const r = await c.syncer(['keys', 'rotate', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const now = operatorKey(c);
    expect(now.publicKey).not.toBe(old.publicKey);
    const record = read('operators/lab-c');
    expect(record.publicKey).toBe(now.publicKey);
    expect(record.rotations).toHaveLength(1);
    expect(record.rotations[0]).toMatchObject({ from: old.publicKey, to: now.publicKey });
    const before = await b.syncer(['retrieve', '--hub', 'weather', '--date', DATE, '--operator', 'lab-c', '--json']);
    expect(before.code, before.stderr).toBe(0); // signed by the old key before the rotation: still valid
    c.write({ 'weather/t.csv': 't\nc2\n' });
    const s = await c.syncer(['sync', '--hub', 'weather', '--json']);
    expect(s.code, s.stderr).toBe(0);
    const date = JSON.parse(s.stdout).date;
    const after = await b.syncer(['retrieve', '--hub', 'weather', '--date', date, '--operator', 'lab-c', '--json']);
    expect(after.code, after.stderr).toBe(0);
    const ops = JSON.parse((await b.syncer(['operators', '--json'])).stdout);
    expect(ops.find((o: { operator: string }) => o.operator === 'lab-c')).toMatchObject({ fingerprint: fingerprint(now.publicKey), pin: 'pinned' });
  });

  it('a reader pinned to the old key follows the signed rotation', async () => {
    // a never looked at lab-c before the rotation; pin the old key by hand as if it had.
    const pinsFile = join(a.home, '.config', 'syncer', 'known_operators.json');
    const record = read('operators/lab-c');
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(join(a.home, '.config', 'syncer'), { recursive: true });
    const registryId = `${world.etcdHosts}|${world.namespace}`;
    writeFileSync(
      pinsFile,
      JSON.stringify({ version: 1, registries: { [registryId]: { 'lab-c': { publicKey: record.rotations[0].from, pinnedAt: '2026-01-01T00:00:00Z' } } } }),
    );
    const r = await a.syncer(['ls', 'weather', DATE, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/following the signed key rotation of lab-c/);
    // Written back as version 2: pins keyed by the registry's namespace, not its endpoints.
    expect(JSON.parse(readFileSync(pinsFile, 'utf8')).scopes[world.namespace]['lab-c'].publicKey).toBe(record.publicKey);
  });
});
