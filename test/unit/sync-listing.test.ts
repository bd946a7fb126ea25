/**
 * What sync reads of a repository in fewer processes gives what the reads it replaced gave: the
 * dataset listing (one git status and one index read, lstat only where git does not vouch) against
 * `ls-files --cached --others` + lstat of every path; git dir, top and branch in one rev-parse
 * against rev-parse + symbolic-ref; files/bytes and LFS from one ls-tree against the two listings.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Git } from '../../src/adapters/git.js';
import { checkoutPlace } from '../../src/adapters/git-repo.js';
import { listDataset, parseIndexListing, parseStatus, type WorkingEntry } from '../../src/adapters/git-worktree.js';
import { datasetSize } from '../../src/adapters/lfs.js';

let root: string;
const env = { PATH: process.env.PATH, HOME: '/nonexistent', GIT_CONFIG_NOSYSTEM: '1' };
const sh = (cwd: string, ...args: string[]) => execFileSync('git', args, { cwd, encoding: 'utf8', env: { ...env, GIT_TERMINAL_PROMPT: '0' } }).trim();
const gitAt = (dir: string) => new Git(dir, { env, stallTimeoutMs: 20_000 });

/** A repository on branch main with a committer identity and `files` committed. */
function repo(name: string, files: Record<string, string>): string {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  sh(dir, 'init', '-q', '-b', 'main');
  sh(dir, 'config', 'user.name', 'T');
  sh(dir, 'config', 'user.email', 't@example.org');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  sh(dir, 'add', '-A');
  sh(dir, 'commit', '-qm', 'one');
  return dir;
}

/** The listing as sync made it before: every tracked or untracked path, lstat of each. */
function listedTheOldWay(dir: string, path: string): Map<string, WorkingEntry> {
  const listed = sh(dir, 'ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', path);
  const entries = new Map<string, WorkingEntry>();
  for (const rel of new Set(listed.split('\0').filter(Boolean))) {
    const st = lstatSync(join(dir, rel), { throwIfNoEntry: false });
    entries.set(rel, st?.isSymbolicLink() ? { link: readlinkSync(join(dir, rel)) } : st?.isFile() ? { size: st.size } : {});
  }
  return entries;
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'syncer-sync-listing-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('the dataset listing', () => {
  it('is what ls-files --cached --others and lstat of every path said, in that order, with git status for the changes', async () => {
    const dir = repo('listing', {
      'd/same.csv': 'a,b\n1,2\n',
      'd/grows.csv': 'x\n',
      'd/gone.csv': 'bye\n',
      'd/becomes-link.csv': 'was a file\n',
      'd/moved.csv': 'moving\n',
      'd/hidden.csv': 'assume unchanged\n',
      'd/sub/deep.csv': 'deep\n',
      'other/x': 'outside the dataset\n',
      '.gitignore': 'd/*.tmp\n',
    });
    symlinkSync('sub/deep.csv', join(dir, 'd/inside-link'));
    sh(dir, 'add', 'd/inside-link');
    sh(dir, 'commit', '-qm', 'link');
    writeFileSync(join(dir, 'd/grows.csv'), 'x\n'.repeat(1000));
    unlinkSync(join(dir, 'd/gone.csv'));
    unlinkSync(join(dir, 'd/becomes-link.csv'));
    symlinkSync('../../../etc/passwd', join(dir, 'd/becomes-link.csv'));
    sh(dir, 'mv', 'd/moved.csv', 'd/renamed.csv');
    sh(dir, 'update-index', '--assume-unchanged', 'd/hidden.csv');
    writeFileSync(join(dir, 'd/hidden.csv'), 'assume unchanged, yet changed and longer\n');
    writeFileSync(join(dir, 'd/new.csv'), 'new\n');
    writeFileSync(join(dir, 'd/ignored.tmp'), 'ignored\n');
    symlinkSync('/etc/hostname', join(dir, 'd/new-link'));
    writeFileSync(join(dir, 'd/staged.csv'), 'staged\n');
    sh(dir, 'add', 'd/staged.csv');

    const listing = await listDataset(gitAt(dir), dir, 'd');
    const old = listedTheOldWay(dir, 'd');
    expect([...listing.entries]).toEqual([...old]);
    expect(listing.changed.sort()).toEqual(
      ['d/becomes-link.csv', 'd/gone.csv', 'd/grows.csv', 'd/new-link', 'd/new.csv', 'd/renamed.csv', 'd/staged.csv'].sort(),
    );
    expect(listing.entries.get('d/hidden.csv')).toEqual({ size: 41 }); // lstat, not the index's stale size
    expect(listing.entries.get('d/inside-link')).toEqual({ link: 'sub/deep.csv' });
  });

  it('a fresh dataset (nothing tracked yet) and a missing one', async () => {
    const dir = repo('fresh', { README: 'x\n' });
    mkdirSync(join(dir, 'hub/a'), { recursive: true });
    writeFileSync(join(dir, 'hub/a/1.csv'), '1\n');
    writeFileSync(join(dir, 'hub/2.csv'), '22\n');
    const listing = await listDataset(gitAt(dir), dir, 'hub');
    expect([...listing.entries]).toEqual([...listedTheOldWay(dir, 'hub')]);
    expect(listing.changed).toEqual(['hub/2.csv', 'hub/a/1.csv']);
    expect(await listDataset(gitAt(dir), dir, 'none')).toEqual({ changed: [], entries: new Map(), alsoChanged: [] });
    // Other paths asked with the dataset: their changes apart, nothing of them in the dataset's listing.
    writeFileSync(join(dir, 'README'), 'changed\n');
    writeFileSync(join(dir, 'hubby'), 'a sibling whose name starts like the dataset\n');
    const withOthers = await listDataset(gitAt(dir), dir, 'hub', ['README', 'hubby', 'none']);
    expect(withOthers).toEqual({ ...listing, alsoChanged: ['README', 'hubby'] });
  });

  it('parses status records (a rename by its new path) and index records whose debug block does not parse', () => {
    expect(parseStatus('R  d/new\0d/old\0 M d/x\0?? d/y\0')).toEqual({ changed: ['d/new', 'd/x', 'd/y'], untracked: ['d/y'] });
    const block = (size: number) => `  ctime: 1:2\n  mtime: 1:2\n  dev: 3\tino: 4\n  uid: 0\tgid: 0\n  size: ${size}\tflags: 0\n`;
    const oid = 'a'.repeat(40);
    const out = `H 100644 ${oid} 0\td/a\0${block(7)}h 100644 ${oid} 0\td/b\n c\0  other: format\nH 120000 ${oid} 0\td/l\0${block(9)}`;
    expect(parseIndexListing(out)).toEqual({
      entries: [
        { tag: 'H', mode: '100644', path: 'd/a', size: 7 },
        { tag: 'h', mode: '100644', path: 'd/b\n c' },
        { tag: 'H', mode: '120000', path: 'd/l', size: 9 },
      ],
      complete: true,
    });
    expect(parseIndexListing(`H 100644 ${oid} 0\td/a\0something else\0`).complete).toBe(false);
    expect(parseIndexListing(`H 100644 ${oid} 0\td/a\0${block(0)}`).entries).toEqual([{ tag: 'H', mode: '100644', path: 'd/a' }]);
  });
});

describe('where the checkout is, in one process', () => {
  it('git dir, top and branch as rev-parse and symbolic-ref --short name them; detached, unborn and no repository too', async () => {
    const dir = repo('place', { 'a/x': 'x\n' });
    const place = await checkoutPlace(gitAt(join(dir, 'a')));
    expect(place).toEqual({ gitDir: join(dir, '.git'), top: dir, branch: 'main' });
    sh(dir, 'tag', 'main'); // an ambiguous short name: symbolic-ref --short says heads/main
    expect((await checkoutPlace(gitAt(dir))).branch).toBe(sh(dir, 'symbolic-ref', '--short', 'HEAD'));
    sh(dir, 'checkout', '-q', '--detach');
    expect(await checkoutPlace(gitAt(dir))).toEqual({ gitDir: join(dir, '.git'), top: dir });
    const unborn = join(root, 'unborn');
    mkdirSync(unborn);
    sh(unborn, 'init', '-q', '-b', 'trunk');
    expect(await checkoutPlace(gitAt(unborn))).toEqual({ gitDir: join(unborn, '.git'), top: unborn, branch: 'trunk' });
    const bare = join(root, 'bare.git');
    mkdirSync(bare);
    sh(bare, 'init', '-q', '--bare');
    expect(await checkoutPlace(gitAt(bare))).toEqual({ gitDir: bare });
    expect(await checkoutPlace(gitAt(root))).toEqual({});
  });
});

describe('files and bytes of a committed dataset, in one listing', () => {
  it('agrees with ls-tree -r -l of the path; links count, files outside do not, attributes without lfs are no LFS', async () => {
    const files = { 'd/a.csv': 'abc\n', 'd/sub/b.csv': 'defgh\n', 'd/.gitattributes': '*.csv text\n', 'dx/c': 'not in d\n', '.gitattributes': '* -diff\n' };
    const dir = repo('size', files);
    symlinkSync('a.csv', join(dir, 'd/link'));
    sh(dir, 'add', 'd/link');
    sh(dir, 'commit', '-qm', 'link');
    const head = sh(dir, 'rev-parse', 'HEAD');
    const listed = sh(dir, 'ls-tree', '-r', '-l', '-z', head, '--', 'd').split('\0').filter(Boolean);
    const bytes = listed.reduce((n, e) => n + Number(/^\d+ blob [0-9a-f]+\s+(\d+)\t/.exec(e)![1]), 0);
    expect(await datasetSize(gitAt(dir), head, 'd')).toEqual({ files: listed.length, bytes, usesLfs: false });
    expect(listed.length).toBe(4);
  });
});
