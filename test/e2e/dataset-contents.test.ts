/**
 * What a dataset may contain (issue 10). A hostile peer, with its own valid key, publishes
 * repositories crafted against its readers: symbolic links that lead out of the dataset (to the
 * reader's private key by absolute path, or `../../` out of the checkout), and trees far larger
 * than the signed advertisement says. Readers (retrieve, the same code under `watch --retrieve`,
 * mirror) refuse with exit 5 naming the problem, and nothing is written at the target.
 * Real etcd, real git, the CLI as a child process.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { existsSync, lstatSync, readdirSync, readlinkSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { git, World, type Operator } from '../helpers/world.js';
import { operatorKey, signAd } from '../helpers/forge.js';
import { serializeAdvertisement, type Advertisement } from '../../src/core/advertisement.js';

let world: World;
let a: Operator;
let b: Operator;
const D1 = '2026-11-06';
const D2 = '2026-11-07';

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  [a, b] = await Promise.all([world.operator('lab-a'), world.operator('lab-b')]);
});
afterAll(() => world.cleanup());

/** lab-a syncs `hub` with these files and links (name -> target), as of `date`. */
async function publishWith(hub: string, date: string, files: Record<string, string>, links: Record<string, string> = {}) {
  a.write(Object.fromEntries(Object.entries(files).map(([k, v]) => [`${hub}/${k}`, v])));
  for (const [name, target] of Object.entries(links)) symlinkSync(target, join(a.repo, hub, name));
  const r = await a.syncer(['sync', '--hub', hub], { at: `${date} 10:00:00` });
  expect(r.code, r.stderr).toBe(0);
  return r;
}

const retrieve = (hub: string, date: string, into: string, extra: string[] = [], env: Record<string, string> = {}) =>
  b.syncer(['retrieve', '--hub', hub, '--date', date, '--operator', 'lab-a', '--into', into, ...extra], { env });

/** Refused: exit 5, one clear line (no stack), nothing at the target, no temporary clone left. */
function expectRefused(r: { code: number; stderr: string }, into: string, problem: RegExp) {
  expect(r.code, r.stderr).toBe(5);
  expect(r.stderr).toMatch(problem);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(existsSync(into)).toBe(false);
  expect(readdirSync(join(into, '..')).filter((f) => f.includes('syncer-tmp'))).toEqual([]);
}

describe('symbolic links that leave the dataset', () => {
  it('an absolute link to a file of the reader (its private key): sync warns, retrieve refuses naming it, --allow-symlinks takes it', async () => {
    const secret = join(b.home, '.config', 'syncer', 'keys', 'lab-b.ed25519.pem');
    const s = await publishWith('abs', D1, { 't.csv': 't\n1\n' }, { 'key.csv': secret });
    expect(s.stderr).toMatch(/warning: .*abs\/key\.csv is a symbolic link to .*lab-b\.ed25519\.pem.*only the link is published/);

    const into = join(world.root, 'abs-target');
    const r = await retrieve('abs', D1, into);
    expectRefused(
      r,
      into,
      /^error: refusing abs\/2026-11-06 from lab-a: 1 symbolic link leads out of the dataset \(abs\/key\.csv -> \/.*lab-b\.ed25519\.pem\)/m,
    );
    expect(r.stderr).toMatch(/--allow-symlinks/);

    const ok = await retrieve('abs', D1, into, ['--allow-symlinks']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(readlinkSync(join(into, 'abs', 'key.csv'))).toBe(secret);
  });

  it('a ../../ link out of the checkout is refused; links inside the dataset stay allowed', async () => {
    await publishWith('up', D1, { 't.csv': 't\n1\n', 'sub/u.csv': 'u\n' }, { 'p.csv': '../../secret.txt', 'ok.csv': 't.csv' });
    const into = join(world.root, 'up-target');
    expectRefused(await retrieve('up', D1, into), into, /1 symbolic link leads out of the dataset \(up\/p\.csv -> \.\.\/\.\.\/secret\.txt\)/);

    await publishWith('inside', D1, { 't.csv': 't\n1\n', 'sub/u.csv': 'u\n' }, { 'ok.csv': 't.csv', 'sub/back.csv': '../t.csv' });
    const fine = join(world.root, 'inside-target');
    const r = await retrieve('inside', D1, fine);
    expect(r.code, r.stderr).toBe(0);
    expect(lstatSync(join(fine, 'inside', 'ok.csv')).isSymbolicLink()).toBe(true);
  });

  it('an update in place to a dataset with an escaping link is refused and leaves the checkout as it was', async () => {
    await publishWith('upd', D1, { 't.csv': 't\n1\n' });
    const into = join(world.root, 'upd-target');
    const first = await retrieve('upd', D1, into);
    expect(first.code, first.stderr).toBe(0);
    const head = git(into, 'rev-parse', 'HEAD');
    await publishWith('upd', D2, {}, { 'etc.csv': '/etc/passwd' });
    const r = await retrieve('upd', D2, into);
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/upd\/etc\.csv -> \/etc\/passwd/);
    expect(git(into, 'rev-parse', 'HEAD')).toBe(head);
    expect(existsSync(join(into, 'upd', 'etc.csv'))).toBe(false);
  });

  it('mirror refuses to archive it (exit 5, the others mirrored), unless --allow-symlinks', async () => {
    const archive = join(world.root, 'archive.git');
    const m = await b.syncer(['mirror', '--to', archive, '--hub', 'abs', '--hub', 'inside']);
    expect(m.code, m.stderr).toBe(5);
    expect(m.stderr).toMatch(/abs\/2026-11-06\/lab-a: refusing .*abs\/key\.csv -> /);
    const tags = () => git(archive, 'for-each-ref', '--format=%(refname)', 'refs/tags/');
    expect(tags()).toContain(`refs/tags/lab-a/inside/${D1}`);
    expect(tags()).not.toContain(`refs/tags/lab-a/abs/${D1}`);
    const again = await b.syncer(['mirror', '--to', archive, '--hub', 'abs', '--allow-symlinks']);
    expect(again.code, again.stderr).toBe(0);
    expect(tags()).toContain(`refs/tags/lab-a/abs/${D1}`);
  });
});

/** Re-tag lab-a's commit of hub/date with an advertisement that lies about its size, signed with lab-a's key. */
function forgeSize(hub: string, date: string, size: { files: number; bytes: number }) {
  const key = `datasets/${hub}/${date}/lab-a`;
  const genuine = JSON.parse(world.etcdGet(key)[`${world.namespace}${key}`]!) as Advertisement;
  const forged = signAd({ ...genuine, ...size }, operatorKey(a)) as Advertisement;
  git(a.repo, 'tag', '-a', '-f', '-m', serializeAdvertisement(forged), forged.tag, forged.commit);
  git(a.repo, 'push', '--quiet', '--force', 'origin', `refs/tags/${forged.tag}`);
  world.etcdPut(key, JSON.stringify(forged));
}

describe('size bombs', () => {
  it('a tree of 4,096 files advertised as 1 file and 4 bytes is refused before its blobs are fetched', async () => {
    const files: Record<string, string> = {};
    for (let i = 0; i < 4096; i++) files[`d${i % 16}/f${i}.csv`] = `${i}\n`;
    await publishWith('bomb', D1, files);
    forgeSize('bomb', D1, { files: 1, bytes: 4 });
    const into = join(world.root, 'bomb-target');
    expectRefused(
      await retrieve('bomb', D1, into),
      into,
      /^error: refusing bomb\/2026-11-06 from lab-a: its tree has 4096 files \(advertised 1\); the advertisement does not describe the data/m,
    );
  });

  it('a file far larger than advertised (same file count) is refused', async () => {
    await publishWith('big', D1, { 'x.csv': 'x'.repeat(65 * 1024) });
    forgeSize('big', D1, { files: 1, bytes: 4 });
    const into = join(world.root, 'big-target');
    expectRefused(await retrieve('big', D1, into), into, /its tree has 66560 bytes \(advertised 4\)/);
  });

  it('git-lfs files count at their real size: a genuine LFS dataset is taken, its real size over a limit is refused', async () => {
    a.write({ 'heavy/big.bin': Buffer.alloc(1024 * 1024 + 10, 7), 'heavy/t.csv': 't\n' });
    const s = await a.syncer(['sync', '--hub', 'heavy'], { at: `${D1} 10:00:00`, env: { SYNCER_LFS_THRESHOLD_MIB: '1' } });
    expect(s.code, s.stderr).toBe(0);
    const into = join(world.root, 'heavy-target');
    expectRefused(await retrieve('heavy', D1, into, [], { SYNCER_MAX_DATASET_BYTES: '1048576' }), into, /it has 1048687 bytes/);
    const r = await retrieve('heavy', D1, into);
    expect(r.code, r.stderr).toBe(0);
  });

  it("over the reader's limits: exit 5 naming the limit and how to raise it", async () => {
    await publishWith('many', D1, { 'a.csv': 'a\n', 'b.csv': 'b\n', 'c.csv': 'c\n' });
    const into = join(world.root, 'many-target');
    const files = await retrieve('many', D1, into, [], { SYNCER_MAX_DATASET_FILES: '2' });
    expectRefused(files, into, /it has 3 files, over this machine's limit of 2 files \(SYNCER_MAX_DATASET_FILES\)/);
    expect(files.stderr).toMatch(/SYNCER_MAX_DATASET_FILES=3/);
    const bytes = await retrieve('many', D1, into, [], { SYNCER_MAX_DATASET_BYTES: '5' });
    expectRefused(bytes, into, /it has 6 bytes \(6 bytes\), over this machine's limit of 5 bytes \(5 bytes\) \(SYNCER_MAX_DATASET_BYTES\)/);
    const bad = await retrieve('many', D1, into, [], { SYNCER_MAX_DATASET_BYTES: 'lots' });
    expect(bad.code, bad.stderr).toBe(2);
    // The same limit as a config key (syncer config set maxDatasetFiles N).
    expect((await b.syncer(['config', 'set', 'maxDatasetFiles', '2'])).code).toBe(0);
    expectRefused(await retrieve('many', D1, into), into, /it has 3 files, over this machine's limit of 2 files/);
    expect((await b.syncer(['config', 'unset', 'maxDatasetFiles'])).code).toBe(0);
    const ok = await retrieve('many', D1, into, [], { SYNCER_MAX_DATASET_FILES: '3', SYNCER_MAX_DATASET_BYTES: '6' });
    expect(ok.code, ok.stderr).toBe(0);
  });
});
