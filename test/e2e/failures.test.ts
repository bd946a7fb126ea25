/**
 * Failure paths against a REAL etcd and REAL git (no mocks): what a user would check after each
 * failure (exit code, the message on stderr, the git history in the repository and its remote,
 * the keys in etcd), and that a rerun after the fault is fixed finishes the job without a second
 * commit.
 */
import { describe, it, expect, inject, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { git, World, type Operator } from '../helpers/world.js';
import { freePort, startCluster, type Cluster } from '../helpers/etcd.js';
import { oneDay } from '../helpers/faketime.js';
import { adsOf, exitFailed, installHook, removeHook, remoteRefs, snapshot, stallServer, type RepoSnapshot } from '../helpers/failures-helpers.js';

let world: World;
/**
 * The syncs whose date is checked (a failed sync and its rerun) run at increasing times of today,
 * so that they share that date even when the run crosses midnight (scripts/test-dates.sh).
 */
const day = oneDay();
const today = () => day.date;

beforeAll(() => {
  world = new World(inject('etcdHosts'));
});

afterAll(() => {
  world?.cleanup();
});

/** The repository, its remote and the registry are exactly as they were. */
function expectNothingWritten(op: Operator, w: World, before: RepoSnapshot, registryBefore?: Record<string, string>): void {
  const after = snapshot(op);
  expect(after.head, 'no commit').toBe(before.head);
  expect(after.commits, 'no commit').toBe(before.commits);
  expect(after.status, 'working tree untouched').toBe(before.status);
  expect(after.tags, 'no tag').toEqual(before.tags);
  expect(remoteRefs(op.remoteDir), 'nothing pushed').toEqual(before.remoteRefs);
  expect(adsOf(w, op), 'nothing advertised').toEqual({});
  if (registryBefore) expect(w.etcdGet(), 'no registry key written').toEqual(registryBefore);
}

/**
 * The newest advertisement of op for hub, parsed, whatever its date: the sync chose the date from
 * its own clock, which may have passed midnight since the test's (scripts/test-dates.sh).
 */
function advertisement(w: World, op: Operator, hub: string): Record<string, unknown> {
  const entries = w.etcdGet(`datasets/${hub}/`);
  const key = Object.keys(entries)
    .filter((k) => k.endsWith(`/${op.name}`))
    .sort()
    .at(-1);
  const raw = key === undefined ? undefined : entries[key];
  expect(raw, `an advertisement of ${hub} by ${op.name}`).toBeDefined();
  return JSON.parse(raw!) as Record<string, unknown>;
}

describe('etcd unreachable (connection refused)', () => {
  it('sync, ls and retrieve exit 3 quickly, with nothing committed, pushed or retrieved', async () => {
    const op = await world.operator('refused');
    op.write({ 'h/a.csv': 'x,y\n1,2\n' });
    const before = snapshot(op);
    const port = await freePort();
    const env = { SYNCER_ETCD_HOSTS: `http://127.0.0.1:${port}` };

    const s = await op.syncer(['sync', '--hub', 'h'], { env });
    exitFailed(s, 3);
    expect(s.ms).toBeLessThan(7000);
    expect(s.stderr).toMatch(/^error: .*etcd/m);
    expect(s.stderr).toContain(`127.0.0.1:${port}`);
    // Said as a person would, not in gRPC's words.
    expect(s.stderr).toMatch(/connection refused \(is etcd running there, on that port\?\)/);
    expect(s.stderr).not.toMatch(/UNAVAILABLE|No connection established/);
    expectNothingWritten(op, world, before);
    expect(before.status).toContain('?? h/');

    const l = await op.syncer(['ls'], { env });
    exitFailed(l, 3);
    expect(l.ms).toBeLessThan(7000);
    expect(l.stderr).toMatch(/^error: .*etcd/m);
    expect(l.stdout).toBe('');

    const r = await op.syncer(['retrieve', '--hub', 'h', '--date', 'latest', '--operator', 'refused'], { env });
    exitFailed(r, 3);
    expect(r.ms).toBeLessThan(7000);
    expect(r.stderr).toMatch(/^error: .*etcd/m);
    expect(existsSync(join(op.importDir, 'h')), 'nothing retrieved').toBe(false);
    expectNothingWritten(op, world, before);
  });
});

describe('etcd frozen (SIGSTOP: accepts connections, never answers)', () => {
  let cluster: Cluster | undefined;
  afterAll(async () => {
    if (cluster) {
      cluster.thaw(0);
      await cluster.close();
    }
  });

  it('ls exits 3 within the default 5 s deadline, and within 2 s with SYNCER_ETCD_TIMEOUT_MS=2000; sync commits nothing', async () => {
    cluster = await startCluster(1);
    const op = await world.operator('frozen');
    op.write({ 'h/a.csv': 'a\n' });
    const before = snapshot(op);
    const env = { SYNCER_ETCD_HOSTS: cluster.hosts };
    cluster.freeze(0);
    try {
      const l = await op.syncer(['ls'], { env, timeoutMs: 30_000 });
      exitFailed(l, 3);
      expect(l.ms).toBeLessThan(7000);
      expect(l.stderr).toMatch(/^error: .*etcd/m);
      expect(l.stderr).toContain(cluster.endpoints[0]!.replace('http://', ''));

      const fast = await op.syncer(['ls', 'h'], { env: { ...env, SYNCER_ETCD_TIMEOUT_MS: '2000' }, timeoutMs: 30_000 });
      exitFailed(fast, 3);
      expect(fast.ms).toBeLessThan(4500);
      expect(fast.stderr).toMatch(/^error: .*etcd/m);

      const s = await op.syncer(['sync', '--hub', 'h'], { env: { ...env, SYNCER_ETCD_TIMEOUT_MS: '2000' }, timeoutMs: 30_000 });
      exitFailed(s, 3);
      expect(s.ms).toBeLessThan(4500);
      expectNothingWritten(op, world, before);
    } finally {
      cluster.thaw(0);
    }
  });
});

describe('push rejected by the remote', () => {
  it('exits 4 keeping the local commit and advertising nothing; a rerun pushes and advertises that commit', async () => {
    const op = await world.operator('rejected');
    op.write({ 'h/a.csv': 'a,b\n1,2\n' });
    const initial = snapshot(op);
    installHook(op.remoteDir, 'pre-receive', '#!/bin/sh\necho "policy: pushes are closed" >&2\nexit 1\n');

    const r = await op.syncer(['sync', '--hub', 'h'], { at: day.at() });
    exitFailed(r, 4);
    expect(r.stderr).toMatch(/^error: .*push/m);
    expect(r.stderr).toMatch(/nothing was advertised/);
    // Why it was refused: the remote's own reason (hook message or git's "hook declined").
    expect.soft(r.stderr).toMatch(/declined|pushes are closed/);
    // The remote refused; it is not ahead of us: telling the user to pull would send them astray.
    expect.soft(r.stderr).not.toMatch(/pull/);
    const kept = snapshot(op);
    expect(kept.commits, 'one new local commit').toBe(initial.commits + 1);
    expect(git(op.repo, 'log', '-1', '--format=%s')).toBe(`sync h ${today()}`);
    expect(git(op.repo, 'ls-tree', '-r', '--name-only', 'HEAD', '--', 'h')).toBe('h/a.csv');
    expect(remoteRefs(op.remoteDir), 'nothing reached the remote').toEqual({});
    expect(adsOf(world, op)).toEqual({});

    removeHook(op.remoteDir, 'pre-receive');
    const again = await op.syncer(['sync', '--hub', 'h'], { at: day.at() });
    exitFailed(again, 0);
    const after = snapshot(op);
    expect(after.head, 'no second commit').toBe(kept.head);
    expect(after.commits).toBe(kept.commits);
    const refs = remoteRefs(op.remoteDir);
    expect(refs['refs/heads/main']).toBe(kept.head);
    expect(git(op.remoteDir, 'rev-parse', `refs/tags/syncer/h/${today()}^{commit}`)).toBe(kept.head);
    const ad = advertisement(world, op, 'h');
    expect(ad.commit).toBe(kept.head);
    expect(ad.tag).toBe(`syncer/h/${today()}`);
    expect(world.etcdGet(`inprogress/h/${today()}/${op.name}`), 'no in-progress marker left').toEqual({});
  });
});

describe('non-fast-forward push', () => {
  it('exits 4 with a hint to pull when another clone pushed first', async () => {
    const op = await world.operator('behind');
    git(op.repo, 'push', '--quiet', 'origin', 'main');
    const other = join(world.root, 'other-clone');
    execFileSync('git', ['clone', '--quiet', op.remoteUrl, other]);
    git(other, 'config', 'user.name', 'Colleague');
    git(other, 'config', 'user.email', 'colleague@example.org');
    writeFileSync(join(other, 'NOTES.md'), 'from elsewhere\n');
    git(other, 'add', 'NOTES.md');
    git(other, 'commit', '--quiet', '-m', 'colleague');
    git(other, 'push', '--quiet', 'origin', 'main');
    const theirs = git(other, 'rev-parse', 'HEAD');

    op.write({ 'h/a.csv': '1\n' });
    const r = await op.syncer(['sync', '--hub', 'h'], { at: day.at() });
    exitFailed(r, 4);
    expect(r.stderr).toMatch(/^error: .*push/m);
    expect(r.stderr).toMatch(/^hint: .*pull/m);
    expect(remoteRefs(op.remoteDir)['refs/heads/main'], "the colleague's commit is untouched").toBe(theirs);
    expect(remoteRefs(op.remoteDir)[`refs/tags/syncer/h/${today()}`], 'atomic push: no tag either').toBeUndefined();
    expect(git(op.repo, 'log', '-1', '--format=%s'), 'local commit kept').toBe(`sync h ${today()}`);
    expect(adsOf(world, op)).toEqual({});
  });
});

describe('etcd dies right after the push', () => {
  let cluster: Cluster | undefined;
  let w2: World | undefined;
  afterAll(async () => {
    await cluster?.close();
    w2?.cleanup();
  });

  it('exits 3 saying it pushed but could not advertise; after etcd is back a rerun advertises without a new commit', async () => {
    cluster = await startCluster(1);
    w2 = new World(cluster.hosts);
    const op = await w2.operator('phoenix');
    op.write({ 'h/a.csv': 'p\n' });
    const initial = snapshot(op);
    const pid = cluster.members[0]!.proc!.pid!;
    installHook(op.remoteDir, 'post-receive', `#!/bin/sh\nkill -9 ${pid}\n`);

    const r = await op.syncer(['sync', '--hub', 'h'], { timeoutMs: 30_000, at: day.at() });
    exitFailed(r, 3);
    expect(r.stderr).toMatch(/^error: .*pushed .*could not advertise/m);
    const pushed = snapshot(op);
    expect(pushed.commits).toBe(initial.commits + 1);
    expect(remoteRefs(op.remoteDir)['refs/heads/main'], 'the commit was pushed').toBe(pushed.head);
    expect(git(op.remoteDir, 'rev-parse', `refs/tags/syncer/h/${today()}^{commit}`)).toBe(pushed.head);
    expect(r.stderr).toContain(pushed.head.slice(0, 12));

    removeHook(op.remoteDir, 'post-receive');
    await cluster.start(0);
    expect(adsOf(w2, op), 'not advertised while etcd was down').toEqual({});

    const again = await op.syncer(['sync', '--hub', 'h'], { at: day.at() });
    exitFailed(again, 0);
    const after = snapshot(op);
    expect(after.head, 'no second commit').toBe(pushed.head);
    expect(after.commits).toBe(pushed.commits);
    expect(advertisement(w2, op, 'h').commit).toBe(pushed.head);
    expect(w2.etcdGet(`inprogress/h/${today()}/${op.name}`), 'no in-progress marker left').toEqual({});
  });
});

describe('git remote that accepts the connection and then stalls', () => {
  const server = stallServer();
  afterAll(async () => {
    await server.close();
  });

  it('exits 4 after the stall timeout saying it made no progress; nothing advertised', async () => {
    const port = await server.listen();
    const op = await world.operator('stalled');
    git(op.repo, 'remote', 'set-url', 'origin', `git://127.0.0.1:${port}/x.git`);
    op.write({ 'h/a.csv': 's\n' });

    const r = await op.syncer(['sync', '--hub', 'h'], { env: { SYNCER_GIT_STALL_TIMEOUT: '2' }, timeoutMs: 30_000 });
    exitFailed(r, 4);
    expect(r.ms).toBeLessThan(10_000);
    expect(r.stderr).toMatch(/^error: .*no progress/m);
    expect(server.connections(), 'git did reach the stalling server').toBeGreaterThan(0);
    expect(adsOf(world, op)).toEqual({});
  });
});

describe('GIT_SSH_COMMAND', () => {
  it('is used for an ssh:// remote', async () => {
    const op = await world.operator('sshop');
    const log = join(world.root, 'fake-ssh.log');
    const script = join(world.root, 'fake-ssh.sh');
    writeFileSync(
      script,
      [
        '#!/bin/sh',
        `echo "$*" >> '${log}'`,
        // git probes an unknown ssh command with -G to see whether it is OpenSSH: it is not.
        'if [ "$1" = "-G" ]; then exit 1; fi',
        'for last; do :; done',
        'exec sh -c "$last"',
        '',
      ].join('\n'),
    );
    chmodSync(script, 0o755);
    const sshUrl = `ssh://fakehost${op.remoteDir}`;
    git(op.repo, 'remote', 'set-url', 'origin', sshUrl);
    op.write({ 'h/a.csv': 'ssh\n' });

    const r = await op.syncer(['sync', '--hub', 'h'], { env: { GIT_SSH_COMMAND: script } });
    exitFailed(r, 0);
    const used = readFileSync(log, 'utf8');
    expect(used).toMatch(/fakehost .*git-receive-pack '?[^\n]*remotes\/sshop\.git/);
    const head = git(op.repo, 'rev-parse', 'HEAD');
    expect(remoteRefs(op.remoteDir)['refs/heads/main']).toBe(head);
    const ad = advertisement(world, op, 'h');
    expect(ad.commit).toBe(head);
    expect(ad.remote).toBe(sshUrl);
  });
});

describe('credentials in the remote URL', () => {
  it('are never advertised nor written into the tag or the pushed operator record', async () => {
    const op = await world.operator('cred');
    const set = await op.syncer(['config', 'set', 'remoteUrl', 'https://alice:s3cret@example.org/data.git?token=t0ken#x']);
    exitFailed(set, 0);
    op.write({ 'h/a.csv': 'c\n' });

    const r = await op.syncer(['sync', '--hub', 'h'], { at: day.at() });
    exitFailed(r, 0);
    const ad = advertisement(world, op, 'h');
    expect(ad.remote).toBe('https://example.org/data.git');
    const registry = JSON.stringify(world.etcdGet());
    expect(registry).toContain('https://example.org/data.git');
    expect(registry).not.toContain('s3cret');
    expect(registry).not.toContain('alice');
    expect(registry).not.toContain('t0ken');

    const tag = git(op.remoteDir, 'cat-file', '-p', `refs/tags/syncer/h/${today()}`);
    expect(tag).toContain('https://example.org/data.git');
    expect(tag).not.toContain('s3cret');
    expect(tag).not.toContain('alice');
    expect(tag).not.toContain('t0ken');
    const opRecord = git(op.remoteDir, 'show', 'main:.syncer/operator.json');
    expect(opRecord).toContain('https://example.org/data.git');
    expect(opRecord).not.toContain('s3cret');
    expect(opRecord).not.toContain('alice');
    expect(opRecord).not.toContain('t0ken');
    expect(r.stderr + r.stdout).not.toContain('s3cret');
    expect(r.stderr + r.stdout).not.toContain('t0ken');
  });
});

describe('a file over 100 MB kept in git (lfsThresholdMiB raised above it)', () => {
  it('gets a warning on stderr naming lfsThresholdMiB, and the sync still goes through', async () => {
    const op = await world.operator('big');
    op.write({ 'h/small.csv': 'a\n' });
    writeFileSync(join(op.repo, 'h/big.bin'), '');
    truncateSync(join(op.repo, 'h/big.bin'), 101 * 1024 * 1024);

    const r = await op.syncer(['sync', '--hub', 'h'], { timeoutMs: 60_000, env: { SYNCER_LFS_THRESHOLD_MIB: '200' } });
    exitFailed(r, 0);
    expect(r.stderr).toMatch(/h\/big\.bin.*10[01] MB/);
    expect(r.stderr).toMatch(/100 MB.*lfsThresholdMiB is 200/);
    expect(r.stderr).not.toMatch(/small\.csv/);
    expect(git(op.repo, 'ls-tree', '-r', '--name-only', 'HEAD', '--', 'h').split('\n').sort()).toEqual(['h/big.bin', 'h/small.csv']);
    expect(advertisement(world, op, 'h').bytes).toBe(101 * 1024 * 1024 + 2);
  }, 90_000);
});

describe('invalid input', () => {
  const cases: string[][] = [
    ['sync', '--hub', 'BAD'],
    ['sync', '--hub', '../x'],
    ['sync', '--hub', 'ok', '--path', '/etc'],
    ['sync', '--hub', 'ok', '--path', '../x'],
    ['retrieve', '--hub', 'h', '--date', '2026-13-01', '--operator', 'x'],
    ['ls', 'h', 'not-a-date'],
  ];

  it.each(cases.map((c) => [c.join(' '), c]))('`syncer %s` exits 2 with a one-line error and writes nothing', async (_label, args) => {
    const op = await world.operator(`bad${cases.indexOf(args)}`);
    op.write({ 'ok/a.csv': 'ok\n', 'h/a.csv': 'h\n' });
    const before = snapshot(op);
    const registryBefore = world.etcdGet();

    const r = await op.syncer(args as string[]);
    exitFailed(r, 2);
    const lines = r.stderr.split('\n').filter(Boolean);
    expect(lines[0]).toMatch(/^error: \S/);
    expect(lines.filter((l) => l.startsWith('error:'))).toHaveLength(1);
    expect(r.stderr, 'no stack trace').not.toMatch(/^\s+at /m);
    expect(r.stderr).not.toMatch(/unexpected/i);
    expect(r.stdout).toBe('');
    expectNothingWritten(op, world, before, registryBefore);
    expect(existsSync(join(op.importDir, 'h')), 'nothing retrieved').toBe(false);
  });
});

describe('git does not know who you are', () => {
  it('sync is exit 4 with the fix, and leaves the index as it was (nothing staged, nothing advertised)', async () => {
    const op = await world.operator('noident');
    git(op.repo, 'config', '--unset', 'user.name');
    git(op.repo, 'config', '--unset', 'user.email');
    git(op.repo, 'config', 'user.useConfigOnly', 'true');
    op.write({ 'noident/a.csv': 'c\n1\n' });
    const r = await op.syncer(['sync', '--hub', 'noident'], {
      env: { GIT_AUTHOR_NAME: undefined, GIT_AUTHOR_EMAIL: undefined, GIT_COMMITTER_NAME: undefined, GIT_COMMITTER_EMAIL: undefined, EMAIL: undefined },
    });
    exitFailed(r, 4);
    expect(r.stderr).toMatch(/git does not know who you are/);
    expect(r.stderr).toMatch(/hint: git config --global user.name/);
    expect(git(op.repo, 'diff', '--cached', '--name-only')).toBe('');
    expect(git(op.repo, 'rev-list', '--count', 'HEAD')).toBe('1');
    expect(world.etcdGet(`datasets/noident/`)).toEqual({});
    // doctor says the same, with the same exit code.
    const d = await op.syncer(['doctor']);
    expect(d.code).toBe(4);
    expect(d.stdout).toMatch(/FAIL\s+repository\s+git has no user.name/);
  });
});
