/**
 * Repositories as syncer makes and reads them: init, remotes, settings (read in one process,
 * written key by key; a repository syncer has just made gets its first settings in one write),
 * where the git directory is, how much its object store holds, and git's version.
 */
import { appendFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Git } from './git.js';

export async function gitVersion(git: Git): Promise<string> {
  return (await git.run(['--version'])).trim();
}

/** A new repository with a working tree at `dir` (created if missing); `git` runs in its parent. */
export async function initRepository(git: Git, dir: string): Promise<void> {
  await git.run(['init', '--quiet', '--', dir]);
}

/** A new bare repository in `git`'s own directory. */
export async function initBare(git: Git): Promise<void> {
  await git.run(['init', '--quiet', '--bare']);
}

export async function addRemote(git: Git, name: string, url: string): Promise<void> {
  await git.run(['remote', 'add', '--', name, url]);
}

export async function setRemoteUrl(git: Git, name: string, url: string): Promise<void> {
  await git.run(['remote', 'set-url', '--', name, url]);
}

/** Is `git`'s directory inside a repository (bare or not)? */
export async function isRepository(git: Git): Promise<boolean> {
  return (await git.tryRun(['rev-parse', '--git-dir'])) !== undefined;
}

/** The absolute git directory, or undefined outside a repository. */
export async function absoluteGitDir(git: Git): Promise<string | undefined> {
  return (await git.tryRun(['rev-parse', '--absolute-git-dir']))?.trim() || undefined;
}

/** Where a checkout is and the branch it is on (as `symbolic-ref --short HEAD` names it; undefined when detached). */
export interface CheckoutPlace {
  gitDir?: string;
  top?: string;
  branch?: string;
}

/**
 * git dir, top and branch in one process. Where that fails (an unborn branch, a bare repository,
 * no repository) each is asked on its own, so each gets the answer it got before.
 */
export async function checkoutPlace(git: Git): Promise<CheckoutPlace> {
  // --abbrev-ref=loose shortens as symbolic-ref --short does ("heads/main" when a tag "main" exists too).
  const out = await git.tryRun(['rev-parse', '--absolute-git-dir', '--show-toplevel', '--abbrev-ref=loose', 'HEAD']);
  const [gitDir, top, head] = (out ?? '').split('\n');
  if (gitDir && top && head) return { gitDir, top, ...(head === 'HEAD' ? {} : { branch: head }) };
  const dir = await absoluteGitDir(git);
  return dir ? { gitDir: dir, ...(await placeInRepository(git)) } : {};
}

/** Top and branch of the checkout `git` is in, a process each (after a wait, or where the one-process read failed). */
export async function placeInRepository(git: Git): Promise<Omit<CheckoutPlace, 'gitDir'>> {
  const top = await git.topLevel();
  if (!top) return {};
  const branch = await git.currentBranch();
  return branch ? { top, branch } : { top };
}

/** Is `path` itself a repository (bare, or the top of a working tree), not inside another one? */
export async function isRepositoryRoot(git: Git, path: string): Promise<boolean> {
  const gitDir = await absoluteGitDir(git);
  if (!gitDir) return false;
  const real = realpathSync(path);
  return gitDir === real || gitDir === join(real, '.git');
}

export async function setConfig(git: Git, key: string, value: string): Promise<void> {
  await git.run(['config', '--', key, value]);
}

/** Remove a setting; a failure (it was not set, or the file is locked) is an error. */
export async function unsetConfig(git: Git, key: string): Promise<void> {
  await git.run(['config', '--unset', key]);
}

/** Remove these settings where they are set (absent ones are fine). */
export async function unsetConfigIfSet(git: Git, keys: string[]): Promise<void> {
  for (const key of keys) await git.tryRun(['config', '--unset', key]);
}

/**
 * The repository's own settings (not the user's global ones) whose keys match `regexp`, in one
 * process: key (as git spells it, lower case but for subsections) -> value (the last one wins,
 * as with `git config --get`). Empty outside a repository.
 */
export async function readLocalConfig(git: Git, regexp: string): Promise<Map<string, string>> {
  const out = (await git.tryRun(['config', '--local', '-z', '--get-regexp', regexp])) ?? '';
  const config = new Map<string, string>();
  for (const record of out.split('\0').filter(Boolean)) {
    const nl = record.indexOf('\n');
    config.set(nl < 0 ? record : record.slice(0, nl), nl < 0 ? 'true' : record.slice(nl + 1));
  }
  return config;
}

/** Values git reads back as written inside quotes (no control characters: those need escapes). */
const PLAIN = /^[^\x00-\x1f\x7f]*$/;

/** `remote.origin.url` -> `[remote "origin"]` and `url`; `syncer.hub` -> `[syncer]` and `hub`. */
function configSection(key: string): { header: string; name: string } {
  const first = key.indexOf('.');
  const last = key.lastIndexOf('.');
  const sub = first === last ? undefined : key.slice(first + 1, last);
  return { header: sub === undefined ? `[${key.slice(0, first)}]` : `[${key.slice(0, first)} "${sub}"]`, name: key.slice(last + 1) };
}

const quoted = (value: string) => `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;

/**
 * The first settings of a repository `initRepository` has just made (no other git works in it
 * yet), written in one append to its config file instead of a `git config` process per key (6-8
 * processes on every first retrieve). Falls back to `git config` per key for anything not plain.
 */
export async function configureNewRepository(git: Git, settings: [string, string][]): Promise<void> {
  const plain = settings.every(([k, v]) => /^[a-z][a-z0-9-]*(\.[A-Za-z0-9_-]+)?\.[a-z][a-z0-9-]*$/i.test(k) && PLAIN.test(v));
  if (!plain) {
    for (const [k, v] of settings) await setConfig(git, k, v);
    return;
  }
  const sections = new Map<string, string[]>();
  for (const [key, value] of settings) {
    const { header, name } = configSection(key);
    sections.set(header, [...(sections.get(header) ?? []), `\t${name} = ${quoted(value)}`]);
  }
  const text = [...sections].map(([header, lines]) => `${header}\n${lines.join('\n')}\n`).join('');
  appendFileSync(join(git.dir, '.git', 'config'), text);
}

/** The settings `git remote add NAME URL` writes. */
export function remoteSettings(name: string, url: string): [string, string][] {
  return [
    [`remote.${name}.url`, url],
    [`remote.${name}.fetch`, `+refs/heads/*:refs/remotes/${name}/*`],
  ];
}

/** Bytes of a directory's files, 0 when it does not exist. */
function filesBytes(dir: string, name: (f: string) => boolean = () => true): number {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return 0;
  }
  return entries.filter(name).reduce((n, f) => n + (statSync(join(dir, f), { throwIfNoEntry: false })?.size ?? 0), 0);
}

/** The git directory of `git.dir` when it is a repository's top with a `.git` directory, else asked of git. */
async function gitDirOf(git: Git): Promise<string | undefined> {
  const dotGit = join(git.dir, '.git');
  return statSync(dotGit, { throwIfNoEntry: false })?.isDirectory() ? dotGit : absoluteGitDir(git);
}

/**
 * Bytes in the object store (packs and loose objects), read from the file system: what
 * `git count-objects -v` reports, without a process. 0 outside a repository.
 */
export async function objectStoreBytes(git: Git): Promise<number> {
  const gitDir = await gitDirOf(git);
  if (!gitDir) return 0;
  const objects = join(gitDir, 'objects');
  let bytes = filesBytes(join(objects, 'pack'), (f) => f.endsWith('.pack') || f.endsWith('.idx'));
  for (const dir of readdirSync(objects, { withFileTypes: true })) {
    if (dir.isDirectory() && /^[0-9a-f]{2}$/.test(dir.name)) bytes += filesBytes(join(objects, dir.name));
  }
  return bytes;
}
