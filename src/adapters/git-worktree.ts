/**
 * Working trees: what a checkout is (top, HEAD, its own settings) read in two processes, whether
 * it is clean, what a dataset directory holds (changes, links, file sizes) from one walk, a
 * sparse checkout of one directory, a detached checkout of a commit, removing untracked files,
 * and the lock files a killed git leaves behind.
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Git } from './git.js';
import { readLocalConfig } from './git-repo.js';

export interface CheckoutState {
  /** Absolute git directory; undefined outside a repository. */
  gitDir?: string;
  /** Top of the working tree; undefined outside a repository. */
  top?: string;
  /** The commit checked out; undefined on an unborn branch. */
  head?: string;
  /** The repository's own settings matching the regexp asked for. */
  config: Map<string, string>;
}

/** git dir, top and HEAD in one process; an unborn HEAD (rev-parse then fails) costs a second. */
async function locate(git: Git): Promise<Omit<CheckoutState, 'config'>> {
  const out = await git.tryRun(['rev-parse', '--absolute-git-dir', '--show-toplevel', '--verify', '--quiet', 'HEAD^{commit}']);
  const [gitDir, top, head] = (out ?? '').split('\n');
  if (out !== undefined && gitDir && top && head) return { gitDir, top, head };
  const where = (await git.tryRun(['rev-parse', '--absolute-git-dir', '--show-toplevel']))?.split('\n');
  return where?.[0] && where[1] ? { gitDir: where[0], top: where[1] } : {};
}

/** What the checkout at `git.dir` is, with its settings whose keys match `configRegexp`. */
export async function checkoutState(git: Git, configRegexp: string): Promise<CheckoutState> {
  const [where, config] = await Promise.all([locate(git), readLocalConfig(git, configRegexp)]);
  return { ...where, config };
}

/** No change to tracked files and no untracked file. Only looks (no index refresh): works on a full or read-only file system. */
export async function isWorktreeClean(git: Git): Promise<boolean> {
  return (await git.run(['--no-optional-locks', 'status', '--porcelain', '--untracked-files=all'])).trim() === '';
}

/** One path of a dataset's working tree, as lstat sees it (or the index, where git vouches it is unchanged). */
export interface WorkingEntry {
  /** A symbolic link's target. */
  link?: string;
  /** Bytes of a regular file; undefined for anything else (a link, a directory, a removed file). */
  size?: number;
}

/** What a dataset directory holds, read in one walk of the working tree (git status's). */
export interface DatasetListing {
  /** Changed, staged or untracked paths (`git status` order; a rename by its new path). */
  changed: string[];
  /** Every tracked or untracked (not ignored) path, in `git ls-files --cached --others` order. */
  entries: Map<string, WorkingEntry>;
  /** Changed, staged or untracked paths among the `also` paths asked of git status with the dataset. */
  alsoChanged: string[];
}

/** Entries of `git status --porcelain=v1 -z`: every path (a rename's source left out), and the untracked ones. */
export function parseStatus(out: string): { changed: string[]; untracked: string[] } {
  const records = out.split('\0').filter(Boolean);
  const changed: string[] = [];
  const untracked: string[] = [];
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    changed.push(r.slice(3));
    if (r.startsWith('??')) untracked.push(r.slice(3));
    if (r[0] === 'R' || r[0] === 'C') i++; // rename/copy: the next record is the source
  }
  return { changed, untracked };
}

/** One entry of `git ls-files -z -s -v --debug`: `tag` H is a plain cached entry (not assume-unchanged, skip-worktree or unmerged). */
export interface IndexEntry {
  tag: string;
  mode: string;
  path: string;
  /** The size recorded at the last refresh (32 bits); undefined when the debug block did not parse. */
  size?: number;
}

/**
 * The block `--debug` prints after each entry: lines that start with two spaces ("the exact format
 * may change at any time", so only its `size:` is read, and a block without one gives no size).
 * Size 0 is no size either: git records it for entries without stat data (`git read-tree`) and
 * for "racily clean" ones it must look at again, and an empty file is cheap to look at.
 */
const DEBUG_BLOCK = /^(?: {2}[^\n]*\n)+/;
const DEBUG_SIZE = /(?:^|\n) {2}size: ([1-9]\d*)\b/;
const INDEX_LINE = /^(\S+) (\d+) [0-9a-f]+ \d+\t/;

/**
 * Entries of `git ls-files -z -s -v --debug`: each "TAG MODE OID STAGE\tPATH\0" is followed by its
 * debug block. `complete`: every record parsed (else the caller cannot trust the listing).
 */
export function parseIndexListing(out: string): { entries: IndexEntry[]; complete: boolean } {
  const entries: IndexEntry[] = [];
  let complete = true;
  let previous: IndexEntry | undefined;
  for (const chunk of out.split('\0')) {
    // A chunk between NULs: the previous entry's debug block, then the next entry's line.
    const block = DEBUG_BLOCK.exec(chunk)?.[0] ?? '';
    const size = DEBUG_SIZE.exec(block)?.[1];
    if (previous && size !== undefined) previous.size = Number(size);
    const line = chunk.slice(block.length);
    const head = INDEX_LINE.exec(line);
    previous = head ? { tag: head[1]!, mode: head[2]!, path: line.slice(head[0].length) } : undefined;
    if (previous) entries.push(previous);
    else if (line !== '') complete = false;
  }
  return { entries, complete };
}

/** What lstat says of `rel` (a removed path: nothing). */
function lstatEntry(top: string, rel: string): WorkingEntry {
  const abs = join(top, rel);
  try {
    const st = lstatSync(abs, { throwIfNoEntry: false });
    if (st?.isSymbolicLink()) return { link: readlinkSync(abs) };
    return st?.isFile() ? { size: st.size } : {};
  } catch {
    return {}; // removed meanwhile
  }
}

const REGULAR = new Set(['100644', '100755']);

/**
 * What the dataset directory `path` holds: one `git status` (the walk of the working tree) and,
 * at the same time, one read of the index. Only what changed, links and entries git does not
 * vouch for are looked at with lstat: a file status leaves out holds what the index recorded, so
 * it is a regular file of the size recorded with it. (Two limits of that size: it has 32 bits, so
 * an unchanged file of 4 GiB or more counts modulo 4 GiB, and it is the size when last recorded,
 * which an eol conversion could make differ by the line ends of a file rewritten with others.)
 */
export async function listDataset(git: Git, top: string, path: string, also: string[] = []): Promise<DatasetListing> {
  const [statusOut, indexOut] = await Promise.all([
    git.run(['status', '--porcelain=v1', '-z', '--untracked-files=all', '--', path, ...also]),
    git.run(['ls-files', '-z', '-s', '-v', '--debug', '--', path]),
  ]);
  // status names paths from the top, as the dataset path is named.
  const inside = (rel: string) => rel === path || rel.startsWith(`${path}/`);
  const status = parseStatus(statusOut);
  const alsoChanged = status.changed.filter((rel) => !inside(rel));
  const index = parseIndexListing(indexOut);
  const untracked = status.untracked.filter(inside);
  const changed = status.changed.filter(inside);
  if (!index.complete) return { changed, entries: await lstatEvery(git, top, path), alsoChanged };
  return { changed, entries: listedEntries(top, untracked, index.entries, new Set(changed)), alsoChanged };
}

/** Untracked paths first, then the index's, each as lstat sees it unless git vouches for it (`changed`: not vouched for). */
function listedEntries(top: string, untracked: string[], index: IndexEntry[], changed: Set<string>): Map<string, WorkingEntry> {
  const entries = new Map<string, WorkingEntry>();
  for (const rel of untracked) entries.set(rel, lstatEntry(top, rel));
  for (const e of index) {
    if (entries.has(e.path)) continue;
    const vouched = e.tag === 'H' && REGULAR.has(e.mode) && e.size !== undefined && !changed.has(e.path);
    entries.set(e.path, vouched ? { size: e.size } : lstatEntry(top, e.path));
  }
  return entries;
}

/** Every tracked or untracked (not ignored) path under `path`, each looked at with lstat (an index listing sync could not read). */
async function lstatEvery(git: Git, top: string, path: string): Promise<Map<string, WorkingEntry>> {
  const listed = await git.run(['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', path]);
  return new Map([...new Set(listed.split('\0').filter(Boolean))].map((rel) => [rel, lstatEntry(top, rel)]));
}

/**
 * The settings that, with writeSparsePatterns, make a repository with nothing checked out yet
 * check out only one directory: what `sparse-checkout set --no-cone` leaves there (pattern file,
 * sparse checkout on, cone mode off), written with the new repository's other settings instead
 * of a git process.
 */
export const SPARSE_DIRECTORY_SETTINGS: [string, string][] = [
  ['core.sparseCheckout', 'true'],
  ['core.sparseCheckoutCone', 'false'],
];

/** The sparse pattern of `path` (as sparseCheckoutDirectory sets it) in the repository whose git dir is `gitDir`. */
export function writeSparsePatterns(gitDir: string, path: string): void {
  mkdirSync(join(gitDir, 'info'), { recursive: true });
  writeFileSync(join(gitDir, 'info', 'sparse-checkout'), `/${path}/\n`);
}

/**
 * The commit a detached HEAD names, read from the HEAD file of the git dir `gitDir` (no process);
 * undefined when HEAD is a symbolic ref or cannot be read (ask git then).
 */
export function detachedHead(gitDir: string): string | undefined {
  try {
    const text = readFileSync(join(gitDir, 'HEAD'), 'utf8');
    return /^[0-9a-f]{40}(?:[0-9a-f]{24})?\n?$/.test(text) ? text.trim() : undefined;
  } catch {
    return undefined;
  }
}

/** Check out only the directory `path` from now on (non-cone: cone mode would add every file at the root). */
export async function sparseCheckoutDirectory(git: Git, path: string): Promise<void> {
  await git.run(['sparse-checkout', 'set', '--no-cone', `/${path}/`]);
}

/**
 * Detach HEAD at `commit` and update the working tree (`force`: over local changes). With `proto`
 * a blob still missing may be fetched lazily through those transports, a network step.
 */
export async function checkoutDetached(git: Git, commit: string, options: { force?: boolean; proto?: string[] } = {}): Promise<void> {
  const args = ['-c', 'advice.detachedHead=false', 'checkout', '--quiet', ...(options.force ? ['--force'] : []), '--detach', commit];
  if (options.proto) await git.transfer([...options.proto, ...args], { what: 'git checkout' });
  else await git.run(args, { what: 'git checkout' });
}

/** Remove untracked files and directories, ignored ones and nested repositories included. */
export async function cleanUntracked(git: Git): Promise<void> {
  await git.run(['clean', '-ffdq']);
}

/**
 * Lock files a killed git left in the repository at `gitDir` (index.lock, shallow.lock, ...): each
 * would make the next git command there fail. Only for a repository no live git works in.
 */
export function removeStaleGitLocks(gitDir: string): void {
  const locks = readdirSync(gitDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.lock') && !f.startsWith('objects/'));
  for (const f of locks) rmSync(join(gitDir, f), { force: true });
}
