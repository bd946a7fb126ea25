/**
 * The named git verbs (adapters/git-*.ts) against real repositories in a temporary directory:
 * what each one leaves behind is what git itself reads back.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Git } from '../../src/adapters/git.js';
import { SyncerError } from '../../src/errors.js';
import { configureNewRepository, initRepository, objectStoreBytes, readLocalConfig, remoteSettings } from '../../src/adapters/git-repo.js';
import { localObjectSizes, readTags, resolveRev } from '../../src/adapters/git-objects.js';
import { commitPaths, restoreFromHead } from '../../src/adapters/git-history.js';
import { checkoutState } from '../../src/adapters/git-worktree.js';
import { runLocalGit } from '../../src/adapters/git-local.js';

let root: string;
const env = { PATH: process.env.PATH, HOME: '/nonexistent', GIT_CONFIG_NOSYSTEM: '1' };
const sh = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...env, GIT_TERMINAL_PROMPT: '0' } }).trim();
const gitAt = (dir: string) => new Git(dir, { env, stallTimeoutMs: 20_000 });

/** A repository with one commit (a/x, b/y) and a committer identity. */
function repo(name: string): string {
  const dir = join(root, name);
  mkdirSync(join(dir, 'a'), { recursive: true });
  mkdirSync(join(dir, 'b'), { recursive: true });
  sh(dir, 'init', '-q', '-b', 'main');
  sh(dir, 'config', 'user.name', 'T');
  sh(dir, 'config', 'user.email', 't@example.org');
  writeFileSync(join(dir, 'a/x'), 'x\n');
  writeFileSync(join(dir, 'b/y'), 'y\n');
  sh(dir, 'add', '.');
  sh(dir, 'commit', '-qm', 'one');
  return dir;
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'syncer-git-verbs-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('a new repository configured in one write', () => {
  it('reads back exactly what was written, quotes, backslashes and spaces included', async () => {
    await initRepository(gitAt(root), join(root, 'new'));
    const git = gitAt(join(root, 'new'));
    const tricky = 'a "quoted" \\ path; # not a comment ';
    await configureNewRepository(git, [...remoteSettings('origin', 'file:///srv/a b.git'), ['syncer.path', tricky], ['syncer.hub', 'weather']]);
    expect(execFileSync('git', ['config', '--get', 'syncer.path'], { cwd: git.dir, encoding: 'utf8', env }).replace(/\n$/, '')).toBe(tricky);
    expect(sh(git.dir, 'remote', 'get-url', 'origin')).toBe('file:///srv/a b.git');
    expect(sh(git.dir, 'config', '--get', 'remote.origin.fetch')).toBe('+refs/heads/*:refs/remotes/origin/*');
    const config = await readLocalConfig(git, '^(syncer\\.|remote\\.origin\\.url$)');
    expect(Object.fromEntries(config)).toEqual({ 'remote.origin.url': 'file:///srv/a b.git', 'syncer.path': tricky, 'syncer.hub': 'weather' });
  });

  it('falls back to git config per key for a value with a control character', async () => {
    await initRepository(gitAt(root), join(root, 'new2'));
    const git = gitAt(join(root, 'new2'));
    await configureNewRepository(git, [['syncer.message', 'two\nlines']]);
    expect((await readLocalConfig(git, '^syncer\\.')).get('syncer.message')).toBe('two\nlines');
  });
});

describe('reads', () => {
  it('object store bytes without a process agree with git count-objects', async () => {
    const dir = repo('count');
    const out = sh(dir, 'count-objects', '-v');
    const kib = (key: string) => Number(new RegExp(`^${key}: (\\d+)$`, 'm').exec(out)?.[1] ?? 0);
    const bytes = await objectStoreBytes(gitAt(dir));
    expect(bytes).toBeGreaterThan(0);
    // count-objects rounds loose objects to disk blocks: the same order of magnitude, never more.
    expect(bytes).toBeLessThanOrEqual((kib('size') + kib('size-pack')) * 1024);
  });

  it('sizes of local objects; undefined (never a fetch) when one is missing', async () => {
    const dir = repo('sizes');
    const git = gitAt(dir);
    const x = (await resolveRev(git, 'HEAD:a/x'))!;
    expect(await localObjectSizes(git, [x])).toEqual(new Map([[x, 2]]));
    expect(await localObjectSizes(git, [x, '0123456789012345678901234567890123456789'])).toBeUndefined();
  });

  it('tags: annotated (its target and message), lightweight (its commit), absent', async () => {
    const dir = repo('tags');
    const head = sh(dir, 'rev-parse', 'HEAD');
    sh(dir, 'tag', '-a', '-m', 'the message', 'syncer/a/2026-01-01', head);
    sh(dir, 'tag', 'light', head);
    const tags = await readTags(gitAt(dir), ['refs/tags/syncer/a/2026-01-01', 'refs/tags/light', 'refs/tags/none']);
    expect(tags.get('refs/tags/syncer/a/2026-01-01')).toEqual({ target: head, peeled: head, message: 'the message\n' });
    expect(tags.get('refs/tags/light')).toMatchObject({ target: head, peeled: '' });
    expect(tags.has('refs/tags/none')).toBe(false);
  });

  it('checkout state: git dir, top and HEAD in one process; an unborn HEAD still has its top', async () => {
    const dir = repo('state');
    sh(dir, 'config', 'syncer.commit', 'abc');
    const state = await checkoutState(gitAt(join(dir, 'a')), '^syncer\\.');
    expect(state).toMatchObject({ gitDir: join(dir, '.git'), top: dir, head: sh(dir, 'rev-parse', 'HEAD') });
    expect(state.config.get('syncer.commit')).toBe('abc');
    await initRepository(gitAt(root), join(root, 'unborn'));
    expect(await checkoutState(gitAt(join(root, 'unborn')), '^syncer\\.')).toMatchObject({ top: join(root, 'unborn') });
    expect((await checkoutState(gitAt(root), '^syncer\\.')).top).toBeUndefined();
  });
});

describe('pathspec commits', () => {
  it('commits only the paths; what else was staged stays staged', async () => {
    const dir = repo('commit');
    writeFileSync(join(dir, 'a/x'), 'x2\n');
    writeFileSync(join(dir, 'b/y'), 'y2\n');
    sh(dir, 'add', 'b/y');
    await commitPaths(gitAt(dir), ['a/'], 'only a');
    expect(sh(dir, 'show', '--name-only', '--format=', 'HEAD')).toBe('a/x');
    expect(sh(dir, 'diff', '--cached', '--name-only')).toBe('b/y');
  });

  it('without an identity: the fix is said, and the index is left as it was', async () => {
    const dir = repo('noident');
    sh(dir, 'config', '--unset', 'user.name');
    sh(dir, 'config', '--unset', 'user.email');
    sh(dir, 'config', 'user.useConfigOnly', 'true');
    writeFileSync(join(dir, 'a/x'), 'x2\n');
    const e = await commitPaths(gitAt(dir), ['a/'], 'only a', 'syncer source pull').catch((err: unknown) => err);
    expect(e).toBeInstanceOf(SyncerError);
    expect((e as SyncerError).message).toMatch(/does not know who you are/);
    expect((e as SyncerError).hint).toMatch(/git config --global user.name .*then run syncer source pull again/);
    expect(sh(dir, 'diff', '--cached', '--name-only')).toBe('');
  });

  it('restores a path from HEAD, or says HEAD has none', async () => {
    const dir = repo('restore');
    writeFileSync(join(dir, 'a/x'), 'changed\n');
    writeFileSync(join(dir, 'a/new'), 'new\n');
    sh(dir, 'add', 'a/new');
    expect(await restoreFromHead(gitAt(dir), 'a/x')).toBe(true);
    expect(sh(dir, 'show', ':a/x')).toBe('x');
    expect(await restoreFromHead(gitAt(dir), 'a/new')).toBe(false);
    expect(sh(dir, 'diff', '--cached', '--name-only')).toBe('');
  });
});

describe('the local runner', () => {
  it('gives stdout, stderr and the exit code; input goes to stdin', async () => {
    const r = await runLocalGit(['hash-object', '--stdin'], { cwd: root, env: { PATH: process.env.PATH! }, timeoutMs: 10_000, input: 'x\n' });
    expect(r).toMatchObject({ exitCode: 0, stdout: '587be6b4c3f93f93c489c0111bba5596147a26cb\n', timedOut: false, aborted: false });
    const bad = await runLocalGit(['rev-parse', '--verify', 'nothing-here'], { cwd: root, env: { PATH: process.env.PATH! }, timeoutMs: 10_000 });
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stderr).toMatch(/fatal/);
  });

  it('stops at its deadline (without waiting for what git started) and when cancelled', async () => {
    const started = Date.now();
    const slow = await runLocalGit(['-c', 'alias.nap=!sleep 5', 'nap'], { cwd: root, env: { PATH: process.env.PATH! }, timeoutMs: 200 });
    expect(slow.timedOut).toBe(true);
    expect(Date.now() - started).toBeLessThan(4000);
    const ac = new AbortController();
    ac.abort();
    expect(await runLocalGit(['--version'], { cwd: root, env: { PATH: process.env.PATH! }, timeoutMs: 10_000, signal: ac.signal })).toMatchObject({
      aborted: true,
    });
  });

  it('a missing git is a clear error', async () => {
    const none = new Git(root, { env: { PATH: '/nonexistent' }, stallTimeoutMs: 10_000 });
    await expect(none.run(['--version'])).rejects.toThrow(/git is not installed/);
  });
});
