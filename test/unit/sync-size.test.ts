/**
 * sync's count of a dataset from the previous count and what changed (commands/sync/size.ts) is
 * the count of the whole tree (lfs.ts's datasetSize), through additions, removals, rewrites, type
 * changes, links, submodules, renames and paths next to the dataset's; it falls back to the whole
 * tree where the record cannot tell (no record, a broken one, a commit that is gone, a changed
 * .gitattributes), and a dataset that uses LFS keeps no record.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Git } from '../../src/adapters/git.js';
import { datasetSize } from '../../src/adapters/lfs.js';
import { committedSize, SIZES_FILE } from '../../src/commands/sync/size.js';

let root: string;
const env = { PATH: process.env.PATH, HOME: '/nonexistent', GIT_CONFIG_NOSYSTEM: '1' };
const sh = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'protocol.file.allow=always', ...args], { cwd, encoding: 'utf8', env: { ...env, GIT_TERMINAL_PROMPT: '0' } }).trim();

/** A Git that counts the processes it starts (what the count costs). */
function countingGit(dir: string): { git: Git; runs: string[][] } {
  const git = new Git(dir, { env, stallTimeoutMs: 20_000 });
  const runs: string[][] = [];
  for (const method of ['run', 'tryRun'] as const) {
    const original = git[method].bind(git) as (args: string[], o?: object) => Promise<string | undefined>;
    (git as unknown as Record<string, unknown>)[method] = (args: string[], o?: object) => {
      runs.push(args);
      return original(args, o);
    };
  }
  return { git, runs };
}

function write(dir: string, files: Record<string, string | null>): void {
  for (const [path, text] of Object.entries(files)) {
    const abs = join(dir, path);
    if (text === null) rmSync(abs, { recursive: true, force: true });
    else {
      mkdirSync(join(abs, '..'), { recursive: true });
      rmSync(abs, { force: true });
      writeFileSync(abs, text);
    }
  }
}

function commit(dir: string, message: string): string {
  sh(dir, 'add', '-A');
  sh(dir, 'commit', '-qm', message, '--allow-empty');
  return sh(dir, 'rev-parse', 'HEAD');
}

function repo(name: string): { dir: string; gitDir: string } {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  sh(dir, 'init', '-q', '-b', 'main');
  sh(dir, 'config', 'user.name', 'T');
  sh(dir, 'config', 'user.email', 't@example.org');
  return { dir, gitDir: join(dir, '.git') };
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'syncer-sync-size-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("sync's count of a dataset from the last one", () => {
  it('equals the count of the whole tree after every kind of change, and reads only what changed', async () => {
    const { dir, gitDir } = repo('steps');
    const sub = repo('sub-source');
    write(sub.dir, { 'x.txt': 'sub\n' });
    commit(sub.dir, 'sub');
    const files: Record<string, string> = {};
    for (let i = 0; i < 200; i++) files[`d/part-${i % 10}/f-${i}.csv`] = `row,${i}\n${'v'.repeat(i)}\n`;
    write(dir, { ...files, 'd/.gitattributes': '*.csv text\n', 'dx/c': 'next door\n', 'README.md': 'hi\n' });
    const steps: [string, () => void][] = [
      ['first', () => undefined],
      ['rewrite some', () => write(dir, { 'd/part-1/f-1.csv': 'shorter\n', 'd/part-2/f-12.csv': 'x'.repeat(5000) })],
      ['add and delete', () => write(dir, { 'd/new/n.csv': 'new file\n', 'd/part-3/f-3.csv': null, 'd/part-4/f-4.csv': null })],
      [
        'a link and a type change',
        () => {
          symlinkSync('../part-5/f-5.csv', join(dir, 'd/new/link'));
          unlinkSync(join(dir, 'd/part-6/f-6.csv'));
          symlinkSync('f-16.csv', join(dir, 'd/part-6/f-6.csv'));
        },
      ],
      [
        'a rename',
        () => {
          write(dir, { 'd/renamed.csv': readFileSync(join(dir, 'd/part-7/f-7.csv'), 'utf8'), 'd/part-7/f-7.csv': null });
        },
      ],
      ['next door only', () => write(dir, { 'dx/c': 'changed next door\n', 'dx/d': 'more\n', 'README.md': 'changed\n' })],
      ['a submodule', () => sh(dir, 'submodule', 'add', '-q', sub.dir, 'd/sub')],
      ['a directory removed', () => write(dir, { 'd/part-8': null })],
      ['a file becomes a directory', () => write(dir, { 'd/part-9/f-9.csv': null, 'd/part-9/f-9.csv/inner': 'deeper\n' })],
      ['nothing changed', () => undefined],
    ];
    let previous: string | undefined;
    for (const [what, change] of steps) {
      change();
      const head = commit(dir, what);
      const { git, runs } = countingGit(dir);
      const incremental = await committedSize(git, gitDir, head, 'd');
      expect(incremental, what).toEqual(await datasetSize(new Git(dir, { env, stallTimeoutMs: 20_000 }), head, 'd'));
      if (previous === undefined) expect(runs.map((r) => r.find((a) => !a.startsWith('-') && !a.includes('=')))).toContain('ls-tree');
      else
        expect(
          runs.some((r) => r.includes('ls-tree')),
          `${what}: no listing of the whole tree`,
        ).toBe(false);
      if (previous === head) expect(runs, 'the same commit: no git at all').toEqual([]);
      expect(JSON.parse(readFileSync(join(gitDir, SIZES_FILE), 'utf8')).d).toEqual({ commit: head, files: incremental.files, bytes: incremental.bytes });
      previous = head;
    }
  });

  it('lists the whole tree when the record cannot tell: none, broken, a commit that is gone, a changed .gitattributes', async () => {
    const { dir, gitDir } = repo('fallbacks');
    write(dir, { 'd/a.csv': 'a\n', 'd/b.csv': 'bb\n' });
    const one = commit(dir, 'one');
    const record = (value: unknown) => writeFileSync(join(gitDir, SIZES_FILE), JSON.stringify(value));
    const listsTree = async (head: string) => {
      const { git, runs } = countingGit(dir);
      const size = await committedSize(git, gitDir, head, 'd');
      const listed = runs.some((r) => r.includes('ls-tree'));
      expect(size).toEqual(await datasetSize(git, head, 'd'));
      return listed;
    };
    write(dir, { 'd/c.csv': 'ccc\n' });
    const two = commit(dir, 'two');
    record('not an object');
    expect(await listsTree(two)).toBe(true);
    record({ d: { commit: one, files: -1, bytes: 3 } });
    expect(await listsTree(two)).toBe(true);
    record({ d: { commit: 'f'.repeat(40), files: 2, bytes: 5 } });
    expect(await listsTree(two)).toBe(true);
    record({ d: { commit: one, files: 2, bytes: 5 } });
    expect(await listsTree(two)).toBe(false);
    write(dir, { '.gitattributes': '*.csv -text\n' });
    const three = commit(dir, 'root attributes');
    expect(await listsTree(three)).toBe(true);
    write(dir, { 'd/deep/.gitattributes': '*.csv text\n' });
    const four = commit(dir, 'dataset attributes');
    expect(await listsTree(four)).toBe(true);
    // Another dataset's record is left as it was.
    const atFour = await datasetSize(countingGit(dir).git, four, 'd');
    record({ d: { commit: four, files: atFour.files, bytes: atFour.bytes }, other: { commit: one, files: 1, bytes: 1 } });
    write(dir, { 'd/e.csv': 'e\n' });
    expect(await listsTree(commit(dir, 'five'))).toBe(false);
    expect(JSON.parse(readFileSync(join(gitDir, SIZES_FILE), 'utf8')).other).toEqual({ commit: one, files: 1, bytes: 1 });
    // No git dir given: nothing recorded, nothing read.
    rmSync(join(gitDir, SIZES_FILE));
    const { git } = countingGit(dir);
    expect(await committedSize(git, undefined, four, 'd')).toEqual(await datasetSize(git, four, 'd'));
    expect(existsSync(join(gitDir, SIZES_FILE))).toBe(false);
  });
});
