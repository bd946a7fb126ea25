/**
 * The core flows end to end: real etcd (started by the global setup), real git repositories and
 * bare remotes, the real CLI binary. Dates are moved with libfaketime (the clock of the whole
 * process tree, git included).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { git, World, type Operator } from '../helpers/world.js';
import { oneDay } from '../helpers/faketime.js';

/**
 * The weather syncs of this file make one day's series (same-day re-syncs, two operators on one
 * date): they run at increasing times of today, so the series stays on one date even when the run
 * crosses midnight (scripts/test-dates.sh).
 */
const day = oneDay();
const today = day.date;
const onToday = () => ({ at: day.at() });
let world: World;
let a: Operator;
let b: Operator;
let c: Operator;

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  [a, b, c] = await Promise.all([world.operator('lab-a'), world.operator('lab-b'), world.operator('lab-c')]);
});
afterAll(() => world.cleanup());

const commits = (op: Operator) => Number(git(op.repo, 'rev-list', '--count', 'HEAD'));
const json = (s: string) => JSON.parse(s);

describe('sync and retrieve between two operators', () => {
  it('syncs a dataset: pathspec commit, tag with the advertisement, push, advertisement in etcd', async () => {
    a.write({ 'weather/temps.csv': 'day,temp\n1,12\n', 'weather/raw/rain.csv': 'day,mm\n1,3\n', 'notes.txt': 'staged, not part of the dataset\n' });
    git(a.repo, 'add', 'notes.txt');
    const before = commits(a);
    const r = await a.syncer(['sync', '--hub', 'weather', '--json'], onToday());
    expect(r.code, r.stderr).toBe(0);
    const out = json(r.stdout);
    expect(out).toMatchObject({
      hub: 'weather',
      date: today,
      operator: 'lab-a',
      files: 2,
      committed: true,
      advertised: 'created',
      tag: `syncer/weather/${today}`,
    });
    expect(commits(a)).toBe(before + 1);
    // Only the dataset path (and syncer's operator record) went into the commit; notes.txt is still staged.
    const committed = git(a.repo, 'show', '--name-only', '--format=', 'HEAD').split('\n').sort();
    expect(committed).toEqual(['.syncer/operator.json', 'weather/raw/rain.csv', 'weather/temps.csv']);
    expect(git(a.repo, 'diff', '--cached', '--name-only')).toBe('notes.txt');
    // Branch and tag reached the remote; the tag message carries the advertisement.
    expect(git(a.remoteDir, 'rev-parse', 'main')).toBe(out.commit);
    expect(git(a.remoteDir, 'rev-parse', `syncer/weather/${today}^{commit}`)).toBe(out.commit);
    const tagMessage = json(git(a.remoteDir, 'tag', '-l', '--format=%(contents)', `syncer/weather/${today}`));
    expect(tagMessage).toMatchObject({ hub: 'weather', commit: out.commit, operator: 'lab-a' });
    // The registry entry.
    const entry = json(world.etcdGet(`datasets/weather/${today}/lab-a`)[`${world.namespace}datasets/weather/${today}/lab-a`]!);
    expect(entry).toMatchObject({ schema: 1, commit: out.commit, remote: a.remoteUrl, branch: 'main', path: 'weather', files: 2, bytes: 25 });
    expect(Object.keys(world.etcdGet('index/dates/weather/'))).toEqual([`${world.namespace}index/dates/weather/${today}`]);
    expect(json(world.etcdGet('operators/lab-a')[`${world.namespace}operators/lab-a`]!)).toMatchObject({ operator: 'lab-a', remote: a.remoteUrl });
  });

  it('retrieves it as another operator: detached sparse checkout of exactly that commit', async () => {
    const r = await b.syncer(['retrieve', '--hub', 'weather', '--date', 'latest', '--operator', 'lab-a', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = json(r.stdout);
    const target = join(b.importDir, 'weather', today, 'lab-a');
    const commit = git(a.repo, 'rev-parse', 'HEAD');
    expect(out).toEqual({ hub: 'weather', date: today, operator: 'lab-a', commit, target, dataPath: join(target, 'weather'), updated: false });
    expect(readFileSync(join(target, 'weather/temps.csv'), 'utf8')).toBe('day,temp\n1,12\n');
    expect(readFileSync(join(target, 'weather/raw/rain.csv'), 'utf8')).toBe('day,mm\n1,3\n');
    expect(git(target, 'rev-parse', 'HEAD')).toBe(commit);
    expect(git(target, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('HEAD'); // detached
    expect(existsSync(join(target, 'README.md'))).toBe(false); // sparse: outside the dataset path
    // Nothing left beside the target.
    expect(readdirSync(join(b.importDir, 'weather', today))).toEqual(['lab-a']);
  });

  it('re-sync without changes makes no commit and replaces the entry', async () => {
    const before = commits(a);
    const first = json(world.etcdGet(`datasets/weather/${today}/lab-a`)[`${world.namespace}datasets/weather/${today}/lab-a`]!);
    const r = await a.syncer(['sync', '--hub', 'weather', '--json'], onToday());
    expect(r.code, r.stderr).toBe(0);
    expect(json(r.stdout)).toMatchObject({ committed: false, advertised: 'replaced', commit: first.commit });
    expect(commits(a)).toBe(before);
    const second = json(world.etcdGet(`datasets/weather/${today}/lab-a`)[`${world.namespace}datasets/weather/${today}/lab-a`]!);
    expect(second.commit).toBe(first.commit);
    expect(second.runId).not.toBe(first.runId);
  });

  it('a registry that does not know the operator yet (another namespace) gets the record from the repository: no commit', async () => {
    const before = commits(a);
    const record = readFileSync(join(a.repo, '.syncer/operator.json'), 'utf8');
    const alt = world.namespace.replace(/\/$/, '-alt/');
    const r = await a.syncer(['sync', '--hub', 'weather', '--json'], { env: { SYNCER_ETCD_NAMESPACE: alt }, ...onToday() });
    expect(r.code, r.stderr).toBe(0);
    expect(json(r.stdout)).toMatchObject({ committed: false, advertised: 'created' });
    expect(commits(a)).toBe(before);
    expect(readFileSync(join(a.repo, '.syncer/operator.json'), 'utf8')).toBe(record);
    const inAlt = execFileSync('etcdctl', ['--endpoints', world.etcdHosts, 'get', '--print-value-only', `${alt}operators/lab-a`], {
      encoding: 'utf8',
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    expect(JSON.parse(inAlt)).toEqual(JSON.parse(record));
    // And the first namespace's entry still matches the tag (nothing moved it).
    const again = await a.syncer(['sync', '--hub', 'weather', '--json'], onToday());
    expect(json(again.stdout)).toMatchObject({ committed: false });
  });

  it('same-day re-sync after a change replaces the entry, and retrieve updates in place', async () => {
    a.write({ 'weather/temps.csv': 'day,temp\n1,12\n2,14\n' });
    const r = await a.syncer(['sync', '--hub', 'weather', '--message', 'add day 2', '--json'], onToday());
    expect(r.code, r.stderr).toBe(0);
    const out = json(r.stdout);
    expect(out).toMatchObject({ committed: true, advertised: 'replaced' });
    expect(git(a.repo, 'log', '-1', '--format=%s')).toBe('add day 2');
    const u = await b.syncer(['retrieve', '--hub', 'weather', '--date', today, '--operator', 'lab-a', '--json']);
    expect(u.code, u.stderr).toBe(0);
    expect(json(u.stdout)).toMatchObject({ updated: true, commit: out.commit });
    const target = join(b.importDir, 'weather', today, 'lab-a');
    expect(readFileSync(join(target, 'weather/temps.csv'), 'utf8')).toContain('2,14');
    expect(git(target, 'rev-parse', 'HEAD')).toBe(out.commit);
  });

  it('refuses to update a checkout with local modifications unless --force', async () => {
    const target = join(b.importDir, 'weather', today, 'lab-a');
    writeFileSync(join(target, 'weather/temps.csv'), 'edited locally\n');
    const r = await b.syncer(['retrieve', '--hub', 'weather', '--date', today, '--operator', 'lab-a']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/local modifications/);
    expect(readFileSync(join(target, 'weather/temps.csv'), 'utf8')).toBe('edited locally\n');
    const f = await b.syncer(['retrieve', '--hub', 'weather', '--date', today, '--operator', 'lab-a', '--force']);
    expect(f.code, f.stderr).toBe(0);
    expect(readFileSync(join(target, 'weather/temps.csv'), 'utf8')).toContain('2,14');
    // A local commit counts too: updating would leave it unreachable.
    writeFileSync(join(target, 'weather/temps.csv'), 'committed locally\n');
    git(target, '-c', 'user.name=b', '-c', 'user.email=b@x', 'commit', '-qam', 'local work');
    const c2 = await b.syncer(['retrieve', '--hub', 'weather', '--date', today, '--operator', 'lab-a']);
    expect(c2.code).toBe(2);
    expect(c2.stderr).toMatch(/local modifications or commits/);
    expect(git(target, 'log', '-1', '--format=%s')).toBe('local work');
  });

  it('refuses a foreign target unless --force, then replaces it', async () => {
    const foreign = join(world.root, 'foreign');
    mkdirSync(foreign, { recursive: true });
    writeFileSync(join(foreign, 'precious.txt'), 'mine\n');
    const r = await b.syncer(['retrieve', '--hub', 'weather', '--date', 'latest', '--operator', 'lab-a', '--into', foreign]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not a checkout of this dataset/);
    expect(readFileSync(join(foreign, 'precious.txt'), 'utf8')).toBe('mine\n');
    const f = await b.syncer(['retrieve', '--hub', 'weather', '--date', 'latest', '--operator', 'lab-a', '--into', foreign, '--force', '--json']);
    expect(f.code, f.stderr).toBe(0);
    expect(json(f.stdout).dataPath).toBe(join(foreign, 'weather'));
    expect(existsSync(join(foreign, 'precious.txt'))).toBe(false);
    expect(existsSync(join(foreign, 'weather/temps.csv'))).toBe(true);
  });

  it('a target under a file, or an import dir that is a file: exit 2 naming the path, nothing created', async () => {
    const file = join(world.root, 'a-file');
    writeFileSync(file, 'not a directory\n');
    const r = await b.syncer(['retrieve', '--hub', 'weather', '--date', 'latest', '--operator', 'lab-a', '--into', join(file, 'sub')]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(new RegExp(`^error: cannot .*${file}.*(not a directory|a file is in the way)`, 'm'));
    expect(r.stderr).not.toMatch(/a bug in syncer/);
    const i = await b.syncer(['retrieve', '--hub', 'weather', '--date', 'latest', '--operator', 'lab-a'], { env: { SYNCER_IMPORT_DIR: file } });
    expect(i.code, i.stderr).toBe(2);
    expect(i.stderr).toMatch(/^error: cannot .*(not a directory|a file is in the way)/m);
    expect(readFileSync(file, 'utf8')).toBe('not a directory\n');
    // Under /proc, Node's own recursive mkdir never returns (and blocks Ctrl-C): ours fails at once.
    const p = await b.syncer(['retrieve', '--hub', 'weather', '--date', 'latest', '--operator', 'lab-a', '--into', '/proc/syncer-nope/x'], {
      timeoutMs: 20_000,
    });
    expect(p.code, p.stderr).toBe(2);
    expect(p.stderr).toMatch(/^error: cannot mkdir \/proc\/syncer-nope: it cannot be created there/m);
  });
});

describe('dates, operators and listings', () => {
  it('an older sync never replaces a newer one of the same day', async () => {
    c.write({ 'soil/ph.csv': 'ph\n7\n' });
    const late = await c.syncer(['sync', '--hub', 'soil', '--json'], { at: '2026-10-10 15:00:00' });
    expect(late.code, late.stderr).toBe(0);
    c.write({ 'soil/ph.csv': 'ph\n6\n' });
    const early = await c.syncer(['sync', '--hub', 'soil'], { at: '2026-10-10 09:00:00' });
    expect(early.code).toBe(2);
    expect(early.stderr).toMatch(/newer advertisement/);
    const entry = json(world.etcdGet('datasets/soil/2026-10-10/lab-c')[`${world.namespace}datasets/soil/2026-10-10/lab-c`]!);
    expect(entry.syncedAt).toMatch(/^2026-10-10T15:00/);
    expect(entry.commit).toBe(json(late.stdout).commit);
  });

  it('browses several dates newest first and finds latest, per operator too', async () => {
    for (const [op, when, content] of [
      [c, '2026-10-01 12:00:00', '1'],
      [c, '2026-10-05 12:00:00', '5'],
      [c, '2026-10-03 12:00:00', '3'],
      [b, '2026-10-12 12:00:00', 'b12'],
    ] as const) {
      op.write({ 'soil/ph.csv': `ph\n${content}\n` });
      const r = await op.syncer(['sync', '--hub', 'soil'], { at: when });
      expect(r.code, r.stderr).toBe(0);
    }
    const dates = await a.syncer(['ls', 'soil', '--json']);
    expect(dates.code, dates.stderr).toBe(0);
    expect(json(dates.stdout)).toEqual([
      { date: '2026-10-12', operators: ['lab-b'] },
      { date: '2026-10-10', operators: ['lab-c'] },
      { date: '2026-10-05', operators: ['lab-c'] },
      { date: '2026-10-03', operators: ['lab-c'] },
      { date: '2026-10-01', operators: ['lab-c'] },
    ]);
    const latest = await a.syncer(['retrieve', '--hub', 'soil', '--date', 'latest', '--json']);
    expect(latest.code, latest.stderr).toBe(0);
    expect(json(latest.stdout)).toMatchObject({ date: '2026-10-12', operator: 'lab-b' });
    expect(readFileSync(join(json(latest.stdout).dataPath, 'ph.csv'), 'utf8')).toBe('ph\nb12\n');
    const latestC = await a.syncer(['retrieve', '--hub', 'soil', '--date', 'latest', '--operator', 'lab-c', '--json']);
    expect(latestC.code, latestC.stderr).toBe(0);
    expect(json(latestC.stdout)).toMatchObject({ date: '2026-10-10', operator: 'lab-c' });
    expect(readFileSync(join(json(latestC.stdout).dataPath, 'ph.csv'), 'utf8')).toBe('ph\n7\n');
  });

  it('several operators on one date: without a TTY, exit 2 listing them; --operator picks one', async () => {
    b.write({ 'weather/temps.csv': 'day,temp\n1,9\n' });
    const s = await b.syncer(['sync', '--hub', 'weather'], onToday());
    expect(s.code, s.stderr).toBe(0);
    const r = await c.syncer(['retrieve', '--hub', 'weather', '--date', today]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/lab-a/);
    expect(r.stderr).toMatch(/lab-b/);
    expect(r.stderr).toMatch(/--operator/);
    expect(existsSync(join(c.importDir, 'weather'))).toBe(false);
    const ok = await c.syncer(['retrieve', '--hub', 'weather', '--date', today, '--operator', 'lab-b', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(readFileSync(join(json(ok.stdout).dataPath, 'temps.csv'), 'utf8')).toBe('day,temp\n1,9\n');
  });

  it('ls at all three levels with the SPEC JSON shapes', async () => {
    const hubs = json((await c.syncer(['ls', '--json'])).stdout);
    expect(hubs).toEqual([
      { hub: 'soil', latestDate: '2026-10-12', dates: 5 },
      { hub: 'weather', latestDate: today, dates: 1 },
    ]);
    const dates = json((await c.syncer(['ls', 'weather', '--json'])).stdout);
    expect(dates).toEqual([{ date: today, operators: ['lab-a', 'lab-b'] }]);
    const one = await c.syncer(['ls', 'weather', today, '--json']);
    const entries = json(one.stdout);
    expect(entries.map((e: { operator: string }) => e.operator)).toEqual(['lab-a', 'lab-b']);
    for (const e of entries) {
      expect(Object.keys(e).sort()).toEqual(['bytes', 'commit', 'files', 'operator', 'remote', 'syncedAt', 'validity']);
      expect(e.commit).toMatch(/^[0-9a-f]{40}$/);
      // A hub without a charter has no validators: nobody reviews its datasets.
      expect(e.validity).toEqual({ state: 'unreviewed', valid: 0, invalid: 0, threshold: 0 });
    }
    // Tables without --json; nothing but data on stdout.
    const table = await c.syncer(['ls']);
    expect(table.stdout).toMatch(/HUB\s+LATEST\s+DATES/);
    expect(table.stdout).toMatch(/soil\s+2026-10-12\s+5/);
    const latest = await c.syncer(['ls', 'soil', 'latest', '--json']);
    expect(JSON.parse(latest.stdout).map((e: { operator: string }) => e.operator)).toEqual(['lab-b']);
    const none = await c.syncer(['ls', 'nothing-here', '--json']);
    expect(none.code).toBe(0);
    expect(json(none.stdout)).toEqual([]);
  });

  it('retrieve of an operator with no advertisement is exit 2 and writes nothing', async () => {
    const r = await c.syncer(['retrieve', '--hub', 'weather', '--date', today, '--operator', 'lab-zz']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no advertisement/);
    expect(existsSync(join(c.importDir, 'weather', today, 'lab-zz'))).toBe(false);
  });
});
