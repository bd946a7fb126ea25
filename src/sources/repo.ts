/**
 * The operator's repository as sources use it: where the definitions and states are, the
 * "no uncommitted edits" check, pathspec commits (only our files, whatever else is staged), and
 * putting files back as they were committed when a run fails after writing them.
 */
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { usageError } from '../errors.js';
import { makeDirs } from '../adapters/dirs.js';
import type { Git } from '../adapters/git.js';
import { commitPaths as commitGitPaths, restoreFromHead } from '../adapters/git-history.js';
import { absoluteGitDir } from '../adapters/git-repo.js';
import { withLock } from '../adapters/locks.js';
import { parseSourcesFile, SOURCES_FILE, type Definition, type SourcesFile } from './core/definitions.js';
import type { SourceIo } from './io.js';

export interface Repo {
  top: string;
  gitDir: string;
  git: Git;
}

/** The configured repository (`repoPath`), at its top level; `gitAt` gives the git of a directory. */
export async function openRepo(repoPath: string | undefined, gitAt: (dir: string) => Git): Promise<Repo> {
  if (!repoPath) throw usageError('no repository configured', 'run `syncer init`, or set SYNCER_REPO');
  if (!existsSync(repoPath)) throw usageError(`repository ${repoPath} does not exist`, 'fix repoPath (syncer config set repoPath DIR)');
  const git = gitAt(repoPath);
  const top = await git.topLevel();
  const gitDir = await absoluteGitDir(git);
  if (!top || !gitDir) throw usageError(`${repoPath} is not a git repository`, 'run `git init` there or fix repoPath');
  return { top, gitDir, git: gitAt(top) };
}

/** One writer at a time per repository: the same lock `syncer sync` takes. */
export function locked<T>(io: SourceIo, repo: Repo, what: string, fn: () => Promise<T>): Promise<T> {
  const lockIo = { info: (m: string) => io.info(m), warn: (m: string) => io.warn(m), signal: io.signal };
  return withLock(join(repo.gitDir, 'syncer.lock'), what, lockIo, fn);
}

export function readSources(top: string): SourcesFile {
  const path = join(top, SOURCES_FILE);
  if (!existsSync(path)) return { schema: 1, sources: {} };
  try {
    return parseSourcesFile(readFileSync(path, 'utf8'));
  } catch (e) {
    throw usageError(`${path} is not a valid sources file: ${(e as Error).message}`, 'fix it by hand, or restore it with git');
  }
}

export function getDefinition(top: string, name: string): Definition {
  const d = readSources(top).sources[name];
  if (!d) throw usageError(`no source ${JSON.stringify(name)}`, 'syncer source list shows the defined sources; add one with syncer source add');
  return d;
}

/** Refuse to run over uncommitted edits of our files: we would overwrite or commit them. */
export async function ensureClean(git: Git, paths: string[]): Promise<void> {
  const changed = await git.changedPaths(paths);
  if (changed.length) {
    throw usageError(`uncommitted changes in ${changed.join(', ')}`, 'commit or discard them first (git commit / git checkout -- FILE)');
  }
}

/** Is a path in the index? */
export { isTracked } from '../adapters/git-history.js';

/** Stage and commit exactly `paths` (a pathspec commit). False when there was nothing to commit. */
export async function commitPaths(git: Git, paths: string[], message: string): Promise<boolean> {
  if ((await git.changedPaths(paths)).length === 0) return false;
  await commitGitPaths(git, paths, message);
  return true;
}

/** Put `paths` back as HEAD has them (or remove them when HEAD has none), index included. */
export async function restorePaths(git: Git, top: string, paths: string[]): Promise<void> {
  for (const p of paths) if (!(await restoreFromHead(git, p))) rmSync(join(top, p), { force: true });
}

/** Write a file atomically (temp + rename), creating its directory. */
export function writeAtomic(path: string, text: string): void {
  makeDirs(dirname(path));
  const tmp = `${path}.syncer-tmp-${process.pid}`;
  writeFileSync(tmp, text);
  renameSync(tmp, path);
}

export function readText(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}
