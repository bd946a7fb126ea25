/**
 * git-lfs end to end over file:// remotes (git-lfs transfers to local paths itself): files over
 * lfsThresholdMiB are stored with LFS by sync, their objects pushed before branch and tag; retrieve
 * fetches the dataset's objects only; a reader or writer without git-lfs gets exit 4 with the
 * install hint; a remote that cannot take LFS objects gets nothing pushed or advertised; mirror
 * carries the objects, so the archive serves the content with the origin gone.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, symlinkSync } from 'node:fs';
import { randomBytes, createHash } from 'node:crypto';
import { join } from 'node:path';
import { git, World, type Operator } from '../helpers/world.js';

const LFS = { SYNCER_LFS_THRESHOLD_MIB: '1' };
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const objectIn = (gitDir: string, oid: string) => join(gitDir, 'lfs', 'objects', oid.slice(0, 2), oid.slice(2, 4), oid);
/** The keys of OP's advertisements of the hub sat, whatever their date. */
const adKeys = (op: string) => Object.keys(world.etcdGet('datasets/sat/')).filter((k) => k.endsWith(`/${op}`));
let world: World;
let a: Operator;
let b: Operator;
let noLfsPath: string;
const big = randomBytes(2_500_000);
const other = randomBytes(2_200_000);

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  [a, b] = await Promise.all([world.operator('lab-a'), world.operator('lab-b')]);
  // A PATH with git but without git-lfs.
  noLfsPath = join(world.root, 'nolfs-bin');
  mkdirSync(noLfsPath);
  symlinkSync('/usr/bin/git', join(noLfsPath, 'git'));
});
afterAll(() => world.cleanup());

describe('git-lfs', { timeout: 120_000 }, () => {
  it('sync stores files over lfsThresholdMiB with git-lfs, pushes the objects first, advertises real sizes', async () => {
    a.write({ 'other/huge.bin': other });
    expect((await a.syncer(['sync', '--hub', 'other'], { env: LFS })).code).toBe(0);
    a.write({ 'sat/big.bin': big, 'sat/small.csv': 'a,b\n1,2\n', 'sat/sub/notes.txt': 'hello\n' });
    const r = await a.syncer(['sync', '--hub', 'sat', '--json'], { env: LFS });
    expect(r.code, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(git(a.repo, 'show', 'HEAD:sat/.gitattributes')).toContain('/big.bin filter=lfs diff=lfs merge=lfs -text');
    expect(git(a.repo, 'show', 'HEAD:sat/big.bin')).toContain(`oid sha256:${sha(big)}`);
    expect(git(a.repo, 'show', 'HEAD:sat/small.csv')).toBe('a,b\n1,2');
    // The object is in the remote's LFS store, with the content.
    expect(readFileSync(objectIn(a.remoteDir, sha(big))).equals(big)).toBe(true);
    // The date is the one sync reports (read from the clock when it ran; a run may cross midnight).
    expect(git(a.remoteDir, 'rev-parse', `syncer/sat/${out.date}^{commit}`)).toBe(out.commit);
    const attributes = readFileSync(join(a.repo, 'sat/.gitattributes')).length;
    const bytes = big.length + 'a,b\n1,2\n'.length + 'hello\n'.length + attributes;
    expect(out).toMatchObject({ files: 4, bytes });
    const entry = JSON.parse(world.etcdGet(`datasets/sat/${out.date}/lab-a`)[`${world.namespace}datasets/sat/${out.date}/lab-a`]!);
    expect(entry).toMatchObject({ files: 4, bytes });
  });

  it("retrieve by another operator: real content, only the dataset's LFS objects downloaded", async () => {
    const r = await b.syncer(['retrieve', '--hub', 'sat', '--date', 'latest', '--operator', 'lab-a', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const { target, dataPath } = JSON.parse(r.stdout);
    expect(readFileSync(join(dataPath, 'big.bin')).equals(big)).toBe(true);
    expect(readFileSync(join(dataPath, 'small.csv'), 'utf8')).toBe('a,b\n1,2\n');
    expect(existsSync(objectIn(join(target, '.git'), sha(big)))).toBe(true);
    expect(existsSync(objectIn(join(target, '.git'), sha(other)))).toBe(false); // the other dataset's object
    expect(git(target, 'status', '--porcelain')).toBe('');
    // An update in place keeps working.
    const again = await b.syncer(['retrieve', '--hub', 'sat', '--date', 'latest', '--operator', 'lab-a', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(readFileSync(join(dataPath, 'big.bin')).equals(big)).toBe(true);
  });

  it('a reader without git-lfs: exit 4 with the install hint, nothing left at the target', async () => {
    const into = join(world.root, 'nolfs-target');
    const r = await b.syncer(['retrieve', '--hub', 'sat', '--date', 'latest', '--operator', 'lab-a', '--into', into], { env: { PATH: noLfsPath } });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/git-lfs/);
    expect(r.stderr).toContain('apt-get install -y git-lfs');
    expect(existsSync(into)).toBe(false);
    expect(readdirSync(world.root).filter((n) => n.includes('syncer-tmp'))).toEqual([]);
  });

  it('a writer without git-lfs and a file over the threshold: exit 4 with the hint, nothing committed', async () => {
    const c = await world.operator('lab-c');
    c.write({ 'sat/big.bin': randomBytes(1_500_000) });
    const head = git(c.repo, 'rev-parse', 'HEAD');
    const r = await c.syncer(['sync', '--hub', 'sat'], { env: { ...LFS, PATH: noLfsPath } });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toContain('apt-get install -y git-lfs');
    expect(git(c.repo, 'rev-parse', 'HEAD')).toBe(head);
    expect(adKeys('lab-c')).toEqual([]);
  });

  it('a remote that cannot take LFS objects: exit 4, branch and tag not pushed, nothing advertised', async () => {
    const d = await world.operator('lab-d');
    git(d.repo, 'config', 'lfs.url', `file://${join(world.root, 'no-such-lfs-store.git')}`);
    d.write({ 'sat/big.bin': randomBytes(1_500_000), 'sat/x.csv': 'x\n' });
    const r = await d.syncer(['sync', '--hub', 'sat'], { env: LFS });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/did not take the git-lfs objects/);
    expect(r.stderr).toMatch(/nothing was advertised/);
    expect(adKeys('lab-d')).toEqual([]);
    expect(git(d.remoteDir, 'for-each-ref')).toBe('');
  });

  it('mirror carries the LFS objects: with the origin gone, the archive serves the content', async () => {
    const archivist = await world.operator('archivist');
    const archive = join(world.root, 'archive.git');
    const m = await archivist.syncer(['mirror', '--to', archive, '--json']);
    expect(m.code, m.stderr).toBe(0);
    expect(readFileSync(objectIn(archive, sha(big))).equals(big)).toBe(true);
    expect(readFileSync(objectIn(archive, sha(other))).equals(other)).toBe(true);
    renameSync(a.remoteDir, `${a.remoteDir}.gone`);
    try {
      // A registry rebuilt from the archive points at it; retrieve reads the real content from there.
      const ns = `${world.namespace}restored/`;
      const env = { SYNCER_ETCD_NAMESPACE: ns };
      const re = await b.syncer(['reindex', '--from-mirror', archive], { env });
      expect(re.code, re.stderr).toBe(0);
      const into = join(world.root, 'from-archive');
      const r = await b.syncer(['retrieve', '--hub', 'sat', '--date', 'latest', '--operator', 'lab-a', '--into', into, '--json'], { env });
      expect(r.code, r.stderr).toBe(0);
      expect(readFileSync(join(JSON.parse(r.stdout).dataPath, 'big.bin')).equals(big)).toBe(true);
    } finally {
      renameSync(`${a.remoteDir}.gone`, a.remoteDir);
    }
  }, 240_000);
});
