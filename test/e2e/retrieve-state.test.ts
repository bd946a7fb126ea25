/**
 * Issue 10, "State that survives": a retrieve killed (SIGKILL of its whole process group, git
 * included) or failed (a full file system) never leaves state that later retrieves trip over,
 * and never loses what was at the target. Real etcd, real git, the CLI as a child process; the
 * full disk is a small tmpfs mounted by the test (root only).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { baseEnv, BIN, git, World, type Operator } from '../helpers/world.js';
import { oneDay } from '../helpers/faketime.js';

/**
 * The syncs of a hub make one day's series (retrieves name the date): they run at increasing times
 * of today, so the series stays on one date even when the run crosses midnight (scripts/test-dates.sh).
 */
const day = oneDay();
const today = day.date;
const BULK_FILES = 8000;
const isRoot = process.getuid?.() === 0;
let world: World;
let a: Operator;
let b: Operator;
let mounted: string | undefined;

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  [a, b] = await Promise.all([world.operator('lab-a'), world.operator('lab-b')]);
});
afterAll(() => {
  if (mounted) execFileSync('umount', ['-l', mounted]);
  world.cleanup();
});

const json = (s: string) => JSON.parse(s);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** What lies beside a target: the leftovers of a run show up here. */
const beside = (dir: string) => readdirSync(dir).sort();

/**
 * Start `syncer retrieve` as `op` in its own process group, and signal the whole group once
 * `when()` holds: SIGKILL kills git too, as the OOM killer of a cgroup or a power cut would;
 * SIGINT is a terminal's Ctrl-C. Returns the exit code.
 */
async function killRetrieveWhen(op: Operator, args: string[], when: () => boolean, signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
  const child = spawn(process.execPath, [BIN, 'retrieve', ...args], { env: baseEnv(op.env), detached: true, stdio: 'ignore' });
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  const deadline = Date.now() + 120_000;
  while (!when()) {
    if (exited !== undefined) throw new Error(`retrieve finished (exit ${exited}) before it could be killed`);
    if (Date.now() > deadline) throw new Error('retrieve never reached the point to kill it');
    await sleep(3);
  }
  process.kill(-child.pid!, signal);
  while (exited === undefined) await sleep(20);
  await sleep(200); // the rest of the group dies with it
  return exited;
}

const bulkFiles = (n: number) => Object.fromEntries(Array.from({ length: n }, (_, i) => [`bulk/f${String(i).padStart(5, '0')}.csv`, `row,${i}\n`.repeat(40)]));
const bulkArgs = ['--hub', 'bulk', '--date', today, '--operator', 'lab-a'];

describe('a retrieve killed or failed midway leaves nothing that later retrieves trip over', () => {
  let v1: string;
  let v2: string;
  const target = () => join(b.importDir, 'bulk', today, 'lab-a');

  it('setup: b has a checkout of bulk v1; a advertises v2 with many files', async () => {
    a.write({ 'bulk/a.txt': 'v1\n' });
    const s1 = await a.syncer(['sync', '--hub', 'bulk', '--json'], { at: day.at() });
    expect(s1.code, s1.stderr).toBe(0);
    v1 = json(s1.stdout).commit;
    const r = await b.syncer(['retrieve', ...bulkArgs]);
    expect(r.code, r.stderr).toBe(0);
    a.write(bulkFiles(BULK_FILES));
    const s2 = await a.syncer(['sync', '--hub', 'bulk', '--json'], { timeoutMs: 180_000, at: day.at() });
    expect(s2.code, s2.stderr).toBe(0);
    v2 = json(s2.stdout).commit;
  }, 240_000);

  it('SIGKILL during an in-place update: the next retrieve recognises its own unfinished update and completes it', async () => {
    await killRetrieveWhen(b, bulkArgs, () => existsSync(join(target(), 'bulk/f00000.csv')));
    // Killed midway: new files under the old retrieved commit.
    expect(git(target(), 'config', 'syncer.commit')).toBe(v1);
    const r = await b.syncer(['retrieve', ...bulkArgs, '--json'], { timeoutMs: 180_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/completing an update .*left unfinished/);
    expect(json(r.stdout)).toMatchObject({ updated: true, commit: v2 });
    expect(git(target(), 'rev-parse', 'HEAD')).toBe(v2);
    expect(git(target(), 'config', 'syncer.commit')).toBe(v2);
    expect(git(target(), 'status', '--porcelain', '--untracked-files=all')).toBe('');
    expect(readdirSync(join(target(), 'bulk')).length).toBe(BULK_FILES + 1);
    expect(existsSync(join(target(), '.git/index.lock'))).toBe(false);
    expect(beside(join(b.importDir, 'bulk', today))).toEqual(['lab-a']);
  }, 300_000);

  it("SIGKILL during a first retrieve: the next retrieve removes the dead run's clone beside the target", async () => {
    const parent = join(world.root, 'fresh');
    const into = join(parent, 'bulk');
    mkdirSync(parent, { recursive: true });
    const tmpWithFiles = () => beside(parent).some((n) => n.startsWith('.bulk.syncer-tmp-') && existsSync(join(parent, n, 'bulk/f00000.csv')));
    await killRetrieveWhen(b, [...bulkArgs, '--into', into], tmpWithFiles);
    expect(beside(parent).filter((n) => n.includes('syncer-tmp'))).toHaveLength(1);
    const r = await b.syncer(['retrieve', ...bulkArgs, '--into', into, '--json'], { timeoutMs: 180_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/removed .*\.bulk\.syncer-tmp-[0-9a-f]+ left by a retrieve that did not finish/);
    expect(json(r.stdout)).toMatchObject({ updated: false, commit: v2 });
    expect(git(into, 'rev-parse', 'HEAD')).toBe(v2);
    expect(beside(parent)).toEqual(['bulk']);
  }, 300_000);

  it('killed in the middle of the swap (the target moved aside, not yet replaced): the previous content is put back, never deleted', async () => {
    // The state a SIGKILL between the two renames of a --force replace leaves on disk: the user's
    // directory moved aside, the complete clone not yet moved in.
    const parent = join(world.root, 'swap');
    const into = join(parent, 'mine');
    mkdirSync(parent, { recursive: true });
    mkdirSync(join(parent, '.mine.syncer-old-0badc0de'));
    writeFileSync(join(parent, '.mine.syncer-old-0badc0de', 'notes.txt'), 'the only copy\n');
    mkdirSync(join(parent, '.mine.syncer-tmp-12345678', 'bulk'), { recursive: true });
    const r = await b.syncer(['retrieve', ...bulkArgs, '--into', into]);
    // Put back, the target is the user's directory again: retrieve refuses it as it would have before.
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/put back .*mine.* moved aside by a retrieve that did not finish/);
    expect(r.stderr).toMatch(/refusing to retrieve into .*mine: it exists and is not a checkout of this dataset/);
    expect(readFileSync(join(into, 'notes.txt'), 'utf8')).toBe('the only copy\n');
    expect(beside(parent)).toEqual(['mine']);
  });

  it('killed after the swap, before removing what it replaced: the replaced directory is removed, the new checkout kept', async () => {
    const parent = join(world.root, 'swap2');
    const into = join(parent, 'bulk');
    mkdirSync(parent, { recursive: true });
    const r1 = await b.syncer(['retrieve', ...bulkArgs, '--into', into], { timeoutMs: 180_000 });
    expect(r1.code, r1.stderr).toBe(0);
    mkdirSync(join(parent, '.bulk.syncer-old-0badc0de'));
    writeFileSync(join(parent, '.bulk.syncer-old-0badc0de', 'replaced.txt'), 'replaced with --force\n');
    const r = await b.syncer(['retrieve', ...bulkArgs, '--into', into, '--json'], { timeoutMs: 180_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(json(r.stdout)).toMatchObject({ updated: true, commit: v2 });
    expect(beside(parent)).toEqual(['bulk']);
  }, 300_000);

  it('a directory moved aside while the target holds something else is kept, with a warning naming it', async () => {
    const parent = join(world.root, 'swap3');
    const into = join(parent, 'mine');
    mkdirSync(join(into), { recursive: true });
    writeFileSync(join(into, 'new.txt'), 'made by hand after the crash\n');
    mkdirSync(join(parent, '.mine.syncer-old-0badc0de'));
    writeFileSync(join(parent, '.mine.syncer-old-0badc0de', 'notes.txt'), 'the only copy\n');
    const r = await b.syncer(['retrieve', ...bulkArgs, '--into', into]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/warning: .*\.mine\.syncer-old-0badc0de holds what was at .*mine before a retrieve that did not finish; kept/);
    expect(readFileSync(join(parent, '.mine.syncer-old-0badc0de', 'notes.txt'), 'utf8')).toBe('the only copy\n');
  });

  it('Ctrl-C during an in-place update: the update is undone, the previous checkout is as it was', async () => {
    // v3 replaces every file of v2 with another.
    git(a.repo, 'rm', '-q', '-r', 'bulk');
    a.write({ 'bulk/a.txt': 'v1\n', ...Object.fromEntries(Object.entries(bulkFiles(BULK_FILES)).map(([k, v]) => [k.replace('/f', '/g'), v])) });
    const s3 = await a.syncer(['sync', '--hub', 'bulk', '--json'], { timeoutMs: 180_000, at: day.at() });
    expect(s3.code, s3.stderr).toBe(0);
    const v3 = json(s3.stdout).commit;
    const code = await killRetrieveWhen(b, bulkArgs, () => existsSync(join(target(), 'bulk/g00000.csv')), 'SIGINT');
    expect(code).toBe(130);
    expect(git(target(), 'rev-parse', 'HEAD')).toBe(v2);
    expect(git(target(), 'config', 'syncer.commit')).toBe(v2);
    expect(git(target(), 'status', '--porcelain', '--untracked-files=all')).toBe('');
    expect(() => git(target(), 'config', 'syncer.updating')).toThrow();
    expect(readdirSync(join(target(), 'bulk')).filter((f) => f.startsWith('g'))).toEqual([]);
    expect(readdirSync(join(target(), 'bulk')).length).toBe(BULK_FILES + 1);
    const r = await b.syncer(['retrieve', ...bulkArgs, '--json'], { timeoutMs: 180_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/unfinished/);
    expect(json(r.stdout)).toMatchObject({ updated: true, commit: v3 });
    expect(readdirSync(join(target(), 'bulk')).filter((f) => f.startsWith('f'))).toEqual([]);
  }, 300_000);
});

describe.skipIf(!isRoot)('an in-place update that fails on a full file system', () => {
  it('leaves the previous checkout exactly as it was, and the next retrieve (with space again) updates it', async () => {
    const mnt = join(world.root, 'small-fs');
    mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt]);
    mounted = mnt;
    const into = join(mnt, 'disk');
    // An operator of its own: a retrieve fetches all trees of the commit, and lab-a's bulk trees would fill the disk early.
    const d = await world.operator('lab-d');
    const args = ['--hub', 'disk', '--date', today, '--operator', 'lab-d', '--into', into];
    d.write({ 'disk/temps.csv': 'day,temp\n1,12\n' });
    const s1 = await d.syncer(['sync', '--hub', 'disk', '--json'], { at: day.at() });
    expect(s1.code, s1.stderr).toBe(0);
    const v1 = json(s1.stdout).commit;
    const r1 = await b.syncer(['retrieve', ...args]);
    expect(r1.code, r1.stderr).toBe(0);
    // v2: a new small file, a big one (compresses to a few KiB: its objects fit, its checkout does not), a changed one.
    d.write({ 'disk/1-new.csv': 'new\n', 'disk/2-big.csv': 'day,temp,notes\n'.repeat(200_000), 'disk/temps.csv': 'day,temp\n1,12\n2,14\n' });
    const s2 = await d.syncer(['sync', '--hub', 'disk', '--json'], { at: day.at() });
    expect(s2.code, s2.stderr).toBe(0);
    const v2 = json(s2.stdout).commit;

    const before = () => {
      expect(git(into, 'rev-parse', 'HEAD')).toBe(v1);
      expect(git(into, 'config', 'syncer.commit')).toBe(v1);
      expect(git(into, 'status', '--porcelain', '--untracked-files=all')).toBe('');
      expect(readdirSync(join(into, 'disk'))).toEqual(['temps.csv']);
      expect(readFileSync(join(into, 'disk/temps.csv'), 'utf8')).toBe('day,temp\n1,12\n');
    };
    const full = await b.syncer(['retrieve', ...args]);
    expect(full.code).toBe(4);
    expect(full.stderr).toMatch(/git checkout failed: .*(unable to write file|Out of diskspace|No space left)/i);
    expect(full.stderr).toMatch(/left .*as it was/);
    before();
    // Still full: the same failure, never "local modifications".
    const again = await b.syncer(['retrieve', ...args]);
    expect(again.code).toBe(4);
    expect(again.stderr).not.toMatch(/local modifications/);
    before();

    execFileSync('mount', ['-o', 'remount,size=16m', mnt]);
    const ok = await b.syncer(['retrieve', ...args, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(json(ok.stdout)).toMatchObject({ updated: true, commit: v2 });
    expect(git(into, 'rev-parse', 'HEAD')).toBe(v2);
    expect(git(into, 'status', '--porcelain', '--untracked-files=all')).toBe('');
    expect(readFileSync(join(into, 'disk/temps.csv'), 'utf8')).toContain('2,14');
    expect(readdirSync(join(into, 'disk')).sort()).toEqual(['1-new.csv', '2-big.csv', 'temps.csv']);
    expect(beside(mnt)).toEqual(['disk']);
  }, 180_000);
});
