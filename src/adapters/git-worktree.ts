/**
 * Working trees: what a checkout is (top, HEAD, its own settings) read in two processes, whether
 * it is clean, a sparse checkout of one directory, a detached checkout of a commit, removing
 * untracked files, and the lock files a killed git leaves behind.
 */
import { readdirSync, rmSync } from 'node:fs';
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

/** Tracked and untracked (not ignored) files under `path`. */
export async function workingFiles(git: Git, path: string): Promise<string[]> {
  const listed = await git.run(['ls-files', '-z', '--cached', '--others', '--exclude-standard', '--', path]);
  return [...new Set(listed.split('\0').filter(Boolean))];
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
