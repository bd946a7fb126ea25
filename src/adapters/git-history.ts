/**
 * Writing history: pathspec commits (only the given paths, whatever else is staged), annotated
 * tags, refs moved with compare-and-swap, a one-file commit on a branch of its own, and putting
 * files back as HEAD has them.
 */
import { SyncerError } from '../errors.js';
import type { Git } from './git.js';

/** git's words when it has no user.name / user.email to commit with. */
const NO_IDENTITY = /Please tell me who you are|auto-detect email|empty ident|no (email|name) was given|auto-detection is disabled/i;

/** Are staged changes outside `paths` waiting in the index? (Unknown counts as yes.) */
async function othersStaged(git: Git, paths: string[]): Promise<boolean> {
  const out = await git.tryRun(['diff', '--cached', '--name-only', '-z', '--', ':/', ...paths.map((p) => `:(exclude,top)${p}`)]);
  return out !== '';
}

/** Unstage `paths` after a commit that did not happen (the files themselves are untouched). */
async function unstage(git: Git, paths: string[]): Promise<void> {
  // An unborn branch has no HEAD to reset to.
  if ((await git.tryRun(['reset', '--quiet', '--', ...paths])) === undefined) {
    await git.tryRun(['rm', '-r', '--cached', '--quiet', '--ignore-unmatch', '--', ...paths]);
  }
}

/**
 * Stage and commit exactly `paths` (a pathspec commit: whatever else is staged stays staged and
 * out of this commit). A failed commit leaves the index as it was; git not knowing who commits is
 * said with its fix (`again`: the command to run after it).
 */
export async function commitPaths(git: Git, paths: string[], message: string, again = 'the command'): Promise<void> {
  // Staging `paths` leaves what is staged outside them as it was, so both are asked at once (the
  // index is replaced in one rename: the diff reads it before or after the add, never half-written).
  const [, others] = await Promise.all([git.run(['add', '-A', '--', ...paths]), othersStaged(git, paths)]);
  // When nothing else is staged the plain commit is the same commit, and it does not run the clean
  // filter again over every file of the paths (git-lfs hashes a 1 GB file once more for `commit -- PATH`).
  const pathspec = others ? ['--', ...paths] : [];
  try {
    await git.run(['commit', '--quiet', '--no-verify', '-m', message, ...pathspec], { what: 'git commit' });
  } catch (e) {
    await unstage(git, paths);
    if (e instanceof SyncerError && NO_IDENTITY.test(e.message)) {
      throw new SyncerError('REMOTE', 'git commit failed: git does not know who you are (user.name / user.email)', {
        hint: `git config --global user.name "Your Name"; git config --global user.email you@example.org; then run ${again} again`,
        cause: e,
      });
    }
    throw e;
  }
}

/** Create (or move) the annotated tag `name` at `commit`. */
export async function annotatedTag(git: Git, name: string, commit: string, message: string): Promise<void> {
  await git.run(['tag', '-a', '-f', '-m', message, name, commit], { what: 'git tag' });
}

/** Is `path` in the index? */
export async function isTracked(git: Git, path: string): Promise<boolean> {
  return (await git.tryRun(['ls-files', '--error-unmatch', '--', path])) !== undefined;
}

/** Put `path` back as HEAD has it, index included. False when HEAD has no such file (it is then unstaged only). */
export async function restoreFromHead(git: Git, path: string): Promise<boolean> {
  if ((await git.tryRun(['cat-file', '-e', `HEAD:${path}`])) !== undefined) {
    await git.tryRun(['checkout', 'HEAD', '--', path]);
    return true;
  }
  await git.tryRun(['rm', '--cached', '--quiet', '--ignore-unmatch', '--', path]);
  return false;
}

/** Point `ref` at `target` (compare-and-swap on `expected` when given), or delete it when `target` is undefined. */
export async function setRef(git: Git, ref: string, target: string | undefined, expected?: string): Promise<void> {
  if (!target) await git.run(['update-ref', '-d', ref]);
  else await git.run(['update-ref', ref, target, ...(expected === undefined ? [] : [expected])]);
}

/**
 * Commit one file (a tree holding only it) on `ref`, on top of `parent` (compare-and-swap: the
 * ref must still be there, or absent without a parent). Needs no working tree and no index.
 */
export async function commitFileOnRef(
  git: Git,
  ref: string,
  file: { name: string; text: string },
  parent: string | undefined,
  message: string,
  author: { name: string; email: string },
): Promise<string> {
  const blob = (await git.run(['hash-object', '-w', '--stdin'], { input: file.text })).trim();
  const tree = (await git.run(['mktree'], { input: `100644 blob ${blob}\t${file.name}\n` })).trim();
  const identity = ['-c', `user.name=${author.name}`, '-c', `user.email=${author.email}`];
  const commit = (await git.run([...identity, 'commit-tree', tree, ...(parent ? ['-p', parent] : []), '-m', message])).trim();
  await setRef(git, ref, commit, parent ?? '0'.repeat(40));
  return commit;
}
