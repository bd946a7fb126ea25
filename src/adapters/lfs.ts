/**
 * git-lfs, named verbs only, every one run through the git runner (adapters/git.ts: no prompts,
 * stall deadline, cancellable, failures as exit 4). Large files of a dataset are stored with LFS
 * when synced (the dataset's own `.gitattributes`), their objects pushed before branch and tag;
 * readers fetch the objects of the dataset path only, explicitly (never from a smudge filter
 * during checkout), and check them; mirrors carry them into the archive.
 *
 * git-lfs reads `-c` options as config, so `lfs.forceprogress=true` makes it print progress
 * without a TTY: the stall deadline then counts moving bytes, not silence.
 */
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { hasKind, SyncerError, usageError, verifyError } from '../errors.js';
import { checkRemoteUrl } from '../core/remote-url.js';
import { escapeControl } from '../core/sanitize.js';
import type { Runtime } from '../runtime.js';
import { parseLsTree, type TreeEntry } from '../core/dataset-contents.js';
import type { Git } from './git.js';
import { lsTree } from './git-objects.js';
import type { DatasetListing } from './git-worktree.js';

export const DEFAULT_LFS_THRESHOLD_MIB = 50;
export const LFS_INSTALL_HINT = 'install git-lfs (Debian/Ubuntu: apt-get install -y git-lfs; elsewhere see https://git-lfs.com), then run the command again';
export const LFS_ATTRIBUTES = 'filter=lfs diff=lfs merge=lfs -text';
const POINTER_HEADER = 'version https://git-lfs.github.com/spec/v1';
/** git-lfs never reads a blob of this size or more as a pointer. */
const POINTER_MAX_BYTES = 1024;
const PROGRESS = ['-c', 'lfs.forceprogress=true'];

/** The threshold in bytes: config `lfsThresholdMiB`, env SYNCER_LFS_THRESHOLD_MIB, default 50 MiB. */
export function lfsThresholdBytes(rt: Runtime): number {
  // The config's one schema has validated file and environment (bounds, exit 2 naming the source).
  return Math.floor((rt.config.lfsThresholdMiB ?? DEFAULT_LFS_THRESHOLD_MIB) * 1024 * 1024);
}

/** Is git-lfs installed (`git lfs version` answers)? */
export async function hasGitLfs(git: Git): Promise<boolean> {
  const out = await git.tryRun(['lfs', 'version']);
  return out !== undefined && /git-lfs\//.test(out);
}

export function lfsMissing(what: string): SyncerError {
  return new SyncerError('REMOTE', `${what} needs git-lfs, which is not installed (git lfs version failed)`, { hint: LFS_INSTALL_HINT });
}

/** Does a .gitattributes text route anything through the LFS filter? */
export function attributesUseLfs(text: string): boolean {
  return text.split('\n').some((line) => !/^\s*#/.test(line) && /(^|\s)filter=lfs(\s|$)/.test(line));
}

/** A gitattributes pattern that matches exactly `rel` (relative to the attributes file's directory). */
export function exactPattern(rel: string): string {
  const escaped = `/${rel.replace(/[*?[\\]/g, '\\$&')}`;
  // Whitespace, quotes or non-ASCII: C-style quoting (gitattributes accepts "quoted" patterns).
  if (!/[\s"]/.test(rel) && /^[\x21-\x7e]*$/.test(rel)) return escaped;
  return `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\t/g, '\\t').replace(/\n/g, '\\n')}"`;
}

/** The .gitattributes blobs that apply to `path` at `commit` (the root one and those under the path). */
async function attributeBlobs(git: Git, commit: string, path: string): Promise<string[]> {
  return attributeOids(parseLsTree(await git.run(['ls-tree', '-r', '-z', '--full-tree', commit, '--', '.gitattributes', path])));
}

/** The .gitattributes blobs among entries of `ls-tree -r --full-tree COMMIT -- .gitattributes PATH`. */
function attributeOids(entries: TreeEntry[]): string[] {
  return entries.filter((e) => e.type === 'blob' && (e.path === '.gitattributes' || e.path.endsWith('/.gitattributes'))).map((e) => e.oid);
}

/** Does any of these .gitattributes blobs route files through LFS? `pre`: `-c` options (protocol rules). */
async function attributesRouteLfs(git: Git, oids: string[], pre: string[] = []): Promise<boolean> {
  for (const oid of oids) {
    if (attributesUseLfs(await git.run([...pre, 'cat-file', 'blob', oid], { what: 'reading .gitattributes' }))) return true;
  }
  return false;
}

/**
 * Does the dataset at `commit` store files with LFS? Reads its .gitattributes (in a blob-less
 * clone that fetches those few small blobs, nothing else). `pre`: `-c` options (protocol rules).
 */
export async function datasetUsesLfs(git: Git, commit: string, path: string, pre: string[] = []): Promise<boolean> {
  return attributesRouteLfs(git, await attributeBlobs(git, commit, path), pre);
}

export interface LfsFile {
  name: string;
  size: number;
  oid: string;
  downloaded?: boolean;
}

/** The LFS files of `path` at `commit` (name, real size, sha-256), from `git lfs ls-files --json`. */
export async function lfsFiles(git: Git, commit: string, path: string): Promise<LfsFile[]> {
  const out = await git.run(['lfs', 'ls-files', '--json', `--include=${path}/**`, commit], { what: 'git lfs ls-files' });
  const parsed = JSON.parse(out || '{}') as { files?: LfsFile[] | null };
  return (parsed.files ?? []).filter((f) => f.name === path || f.name.startsWith(`${path}/`));
}

/** Where git-lfs keeps an object in a repository whose git dir is `gitDir`. */
export function objectPath(gitDir: string, oid: string): string {
  return join(gitDir, 'lfs', 'objects', oid.slice(0, 2), oid.slice(2, 4), oid);
}

async function gitDirOf(git: Git): Promise<string> {
  return (await git.run(['rev-parse', '--absolute-git-dir'])).trim();
}

/** Every object of `files` is in the local LFS store with its size (git-lfs checked its sha-256 on download). */
async function checkObjects(git: Git, files: LfsFile[], where: string): Promise<void> {
  const gitDir = await gitDirOf(git);
  const missing = files.filter((f) => {
    try {
      return statSync(objectPath(gitDir, f.oid)).size !== f.size;
    } catch {
      return true;
    }
  });
  if (missing.length) {
    throw new SyncerError(
      'REMOTE',
      `git-lfs did not bring ${missing.length} object(s) from ${where}: ${missing
        .slice(0, 3)
        .map((f) => f.name)
        .join(', ')}${missing.length > 3 ? ', ...' : ''}`,
      {
        hint: 'the remote may have lost its LFS objects; ask the operator to sync again (it pushes LFS objects first)',
      },
    );
  }
}

/** `git lfs install --local` (filters only, no hooks: syncer pushes the objects itself). */
async function installLocal(git: Git): Promise<void> {
  if ((await git.tryRun(['config', '--local', '--get', 'filter.lfs.process']))?.trim() === 'git-lfs filter-process') return;
  await git.run(['lfs', 'install', '--local', '--skip-repo'], { what: 'git lfs install --local' });
}

// ---------------------------------------------------------------------------------------------
// Sync (the operator's repository)

export interface LargeFilePlan {
  /** Files over the threshold, relative to the repository. */
  large: string[];
  /** Of those, the ones newly routed through LFS by this sync. */
  added: string[];
  /** The dataset's .gitattributes (repository-relative) when it was written. */
  attributesFile?: string;
}

/**
 * Route the dataset's files over the threshold through LFS before they are staged: list them in
 * `<path>/.gitattributes`, install the filters in the repository, and restage files committed
 * before as plain blobs. Without git-lfs and a file over the threshold: exit 4, nothing changed.
 */
export async function storeLargeFiles(rt: Runtime, git: Git, top: string, path: string, listing: DatasetListing): Promise<LargeFilePlan> {
  const threshold = lfsThresholdBytes(rt);
  // The dataset's files as sync listed them (tracked and untracked, regular files with their size).
  const large = [...listing.entries].filter(([, e]) => e.size !== undefined && e.size > threshold).map(([rel]) => rel);
  const attributesRel = posix.join(path, '.gitattributes');
  const attributesAbs = join(top, attributesRel);
  const current = existsSync(attributesAbs) ? readFileSync(attributesAbs, 'utf8') : '';
  if (large.length === 0 && !attributesUseLfs(current)) return { large, added: [] };
  if (!(await hasGitLfs(git))) {
    throw lfsMissing(
      large.length
        ? `${large[0]} is over the LFS threshold (${(threshold / 1024 / 1024).toFixed(1)} MiB): storing it`
        : `${path}/ stores files with git-lfs: syncing it`,
    );
  }
  await installLocal(git);
  if (large.length === 0) return { large, added: [] };
  const routed = await filterAttr(git, large);
  const added = large.filter((f) => routed.get(f) !== 'lfs');
  if (added.length === 0) return { large, added };
  const lines = added.map((f) => `${exactPattern(posix.relative(path, f))} ${LFS_ATTRIBUTES}`);
  const text =
    current +
    (current && !current.endsWith('\n') ? '\n' : '') +
    (current ? '' : '# files over the LFS threshold, listed by syncer sync\n') +
    lines.join('\n') +
    '\n';
  writeFileSync(attributesAbs, text);
  const check = await filterAttr(git, added);
  const unmatched = added.filter((f) => check.get(f) !== 'lfs');
  if (unmatched.length) {
    writeFileSync(attributesAbs, current);
    throw usageError(
      `could not route ${unmatched[0]} through git-lfs: ${attributesRel} does not match it (another .gitattributes overrides it?)`,
      `check ${attributesRel} and the .gitattributes files above it`,
    );
  }
  // Files committed before as plain blobs keep their index entry until renormalized.
  await git.run(['add', '--renormalize', '--', ...added]);
  return { large, added, attributesFile: attributesRel };
}

/** `git check-attr filter` of these paths. */
async function filterAttr(git: Git, paths: string[]): Promise<Map<string, string>> {
  const out = await git.run(['check-attr', '-z', '--stdin', 'filter'], { input: `${paths.join('\0')}\0` });
  const parts = out.split('\0');
  const map = new Map<string, string>();
  for (let i = 0; i + 2 < parts.length; i += 3) map.set(parts[i]!, parts[i + 2]!);
  return map;
}

/** What sync advertises of the dataset at `commit`, and whether it stores files with LFS. */
export interface DatasetSize {
  files: number;
  /** LFS files counted at their real size. */
  bytes: number;
  usesLfs: boolean;
}

/**
 * {files, bytes} of the dataset at `commit` (every blob under `path`, links included) with LFS
 * files counted at their real size, and whether it uses LFS: one listing of the tree (sizes and
 * .gitattributes alike), `git lfs ls-files` only for a dataset that uses LFS.
 */
export async function datasetSize(git: Git, commit: string, path: string): Promise<DatasetSize> {
  const entries = await lsTree(git, commit, ['.gitattributes', path], { sizes: true });
  const blobs = entries.filter((e) => e.type === 'blob' && (e.path === path || e.path.startsWith(`${path}/`)));
  const size = { files: blobs.length, bytes: blobs.reduce((n, e) => n + (e.size ?? 0), 0) };
  if (!(await attributesRouteLfs(git, attributeOids(entries)))) return { ...size, usesLfs: false };
  if (!(await hasGitLfs(git))) throw lfsMissing(`${path}/ stores files with git-lfs: syncing it`);
  const pointerSize = new Map(blobs.map((e) => [e.path, e.size ?? 0]));
  let bytes = size.bytes;
  for (const f of await lfsFiles(git, commit, path)) bytes += f.size - (pointerSize.get(f.name) ?? 0);
  return { files: size.files, bytes, usesLfs: true };
}

/**
 * Push the LFS objects of `commit` to `remote` (before branch and tag: nothing is advertised that a
 * peer cannot fetch). A remote that cannot take them is exit 4 with what git-lfs said. `usesLfs`:
 * the dataset's answer already read (datasetSize's), else its .gitattributes are read.
 */
export async function pushLfsObjects(git: Git, remote: string, commit: string, path: string, usesLfs?: boolean): Promise<number> {
  if (!(usesLfs ?? (await datasetUsesLfs(git, commit, path)))) return 0;
  if (!(await hasGitLfs(git))) throw lfsMissing(`${path}/ stores files with git-lfs: pushing it`);
  const files = await lfsFiles(git, commit, path);
  if (files.length === 0) return 0;
  try {
    await git.run([...PROGRESS, 'lfs', 'push', remote, commit], { network: true, what: `git lfs push to ${remote}` });
  } catch (e) {
    if (!hasKind(e, 'REMOTE')) throw e;
    throw new SyncerError(
      'REMOTE',
      `the remote ${remote} did not take the git-lfs objects of ${path}/ (${e.message}); branch and tag were not pushed, nothing was advertised`,
      {
        hint:
          'the remote must store git-lfs objects: GitHub, GitLab and Gitea do over https (enable LFS for the repository); a stock ssh server does ' +
          'not (set lfs.url to an https LFS endpoint); a file:// remote needs a writable lfs/ directory',
        cause: e,
      },
    );
  }
  return files.length;
}

// ---------------------------------------------------------------------------------------------
// Retrieve (a blob-less, sparse clone)

/**
 * Before the checkout of an advertised dataset: if it stores files with LFS, refuse without git-lfs
 * (exit 4; only the small .gitattributes blobs were read), bring the dataset's blobs (pointers
 * included) in one fetch, then fetch the LFS objects of the dataset path only (explicitly, with
 * progress; git-lfs checks each object's sha-256) and check every one is there with its size. The
 * checkout that follows then fills the files from the local LFS store: nothing left to download.
 */
export async function fetchLfsObjects(
  git: Git,
  ad: { commit: string; path: string; remote: string },
  proto: string[],
): Promise<{ files: number; bytes: number }> {
  if (!(await datasetUsesLfs(git, ad.commit, ad.path, proto))) return { files: 0, bytes: 0 };
  if (!(await hasGitLfs(git))) throw lfsMissing(`the dataset ${ad.path}/ stores files with git-lfs: retrieving it`);
  await refuseLfsEndpoints(git, ad.commit, proto);
  await installLocal(git);
  await fetchMissingBlobs(git, ad.commit, ad.path, proto);
  const files = await lfsFiles(git, ad.commit, ad.path);
  if (files.length === 0) return { files: 0, bytes: 0 };
  await git.run([...proto, ...PROGRESS, 'lfs', 'fetch', 'origin', ad.commit, `--include=${ad.path}/**`, '--exclude='], {
    network: true,
    what: `git lfs fetch from ${ad.remote}`,
  });
  await checkObjects(git, files, ad.remote);
  return { files: files.length, bytes: files.reduce((n, f) => n + f.size, 0) };
}

/** The transports a `protocolArgs` list allows (`-c protocol.<t>.allow=always`). */
const allowedIn = (proto: string[]) => proto.flatMap((a) => /^protocol\.([a-z]+)\.allow=always$/.exec(a)?.[1] ?? []);

/**
 * A `.lfsconfig` in the commit (or in the checkout being updated: git-lfs reads it from the index)
 * points git-lfs at an endpoint of the committer's choosing: git's protocol rules do not cover
 * git-lfs's own HTTP client, so each URL there must use a transport the reader allows.
 */
async function refuseLfsEndpoints(git: Git, commit: string, proto: string[]): Promise<void> {
  const allowed = allowedIn(proto);
  for (const rev of [commit, 'HEAD']) {
    const listed = await git.tryRun(['config', '--blob', `${rev}:.lfsconfig`, '--get-regexp', 'url$']);
    for (const line of (listed ?? '').split('\n').filter(Boolean)) {
      const [key, url = ''] = line.split(/\s+/, 2);
      const check = checkRemoteUrl(url, allowed);
      if (!check.ok) {
        throw verifyError(
          `the .lfsconfig of ${rev === 'HEAD' ? 'the checkout' : 'the commit'} sets ${key} to ${escapeControl(url)}: ${check.problem}`,
          'git-lfs would fetch from there; ask the operator to remove it, or allow that transport if you trust it',
        );
      }
    }
  }
}

/** The dataset's blobs a blob-less clone lacks, in one fetch by id (git-lfs cannot lazy-fetch them). */
async function fetchMissingBlobs(git: Git, commit: string, path: string, proto: string[]): Promise<void> {
  const out = await git.run(['rev-list', '--objects', '--missing=print', commit, '--', path]);
  const missing = out
    .split('\n')
    .filter((l) => l.startsWith('?'))
    .map((l) => l.slice(1).trim());
  for (let i = 0; i < missing.length; i += 2000) {
    // noop negotiation: the server must not assume we hold the blobs of the commit we hold.
    await git.run(
      [
        ...proto,
        '-c',
        'fetch.negotiationAlgorithm=noop',
        'fetch',
        '--no-tags',
        '--no-write-fetch-head',
        '--recurse-submodules=no',
        'origin',
        ...missing.slice(i, i + 2000),
      ],
      {
        network: true,
        what: `git fetch of the dataset's files`,
      },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Mirror (a bare archive holding complete tags)

/**
 * Bring the LFS objects of these datasets from `remote` into the archive `git` (a bare repository
 * holding their commits), checked: an archive of pointers is no archive. Returns the count.
 */
export async function archiveLfsObjects(git: Git, remote: string, ads: { commit: string; path: string }[], proto: string[]): Promise<number> {
  const byPath = new Map<string, string[]>();
  for (const ad of ads) {
    if (!(await datasetUsesLfs(git, ad.commit, ad.path))) continue;
    byPath.set(ad.path, [...(byPath.get(ad.path) ?? []), ad.commit]);
  }
  if (byPath.size === 0) return 0;
  if (!(await hasGitLfs(git))) throw lfsMissing(`archiving datasets stored with git-lfs (${[...byPath.keys()].join(', ')})`);
  let count = 0;
  for (const [path, commits] of byPath) {
    const files = (await Promise.all([...new Set(commits)].map((c) => lfsFiles(git, c, path)))).flat();
    if (files.length === 0) continue;
    await git.run([...proto, ...PROGRESS, 'lfs', 'fetch', remote, ...new Set(commits), `--include=${path}/**`, '--exclude='], {
      network: true,
      what: `git lfs fetch from ${remote}`,
    });
    await checkObjects(git, files, remote);
    count += files.length;
  }
  return count;
}

/** Every LFS object in the local store of `git` (to push an archive's objects on). */
export async function localObjectIds(git: Git): Promise<string[]> {
  const root = join(await gitDirOf(git), 'lfs', 'objects');
  if (!existsSync(root)) return [];
  const oids: string[] = [];
  for (const a of readdirSync(root)) {
    if (!/^[0-9a-f]{2}$/.test(a)) continue;
    for (const b of readdirSync(join(root, a))) for (const oid of readdirSync(join(root, a, b))) if (/^[0-9a-f]{64}$/.test(oid)) oids.push(oid);
  }
  return oids;
}

/** Push these LFS objects to `remote` (before the refs that need them). */
export async function pushObjectIds(git: Git, remote: string, oids: string[], proto: string[], where: string): Promise<void> {
  if (oids.length === 0) return;
  if (!(await hasGitLfs(git))) throw lfsMissing(`pushing git-lfs objects to ${where}`);
  for (let i = 0; i < oids.length; i += 1000) {
    await git.run([...proto, ...PROGRESS, 'lfs', 'push', '--object-id', remote, ...oids.slice(i, i + 1000)], {
      network: true,
      what: `git lfs push to ${where}`,
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Source (records read from a data file that crossed the threshold)

/** Is the file at `abs` an LFS pointer (not the content)? */
export function isPointerFile(abs: string): boolean {
  try {
    const st = statSync(abs);
    if (!st.isFile() || st.size >= POINTER_MAX_BYTES) return false;
    return readFileSync(abs, 'utf8').startsWith(POINTER_HEADER);
  } catch {
    return false;
  }
}

/**
 * Make sure the working-tree file `rel` holds its content, not an LFS pointer (a checkout made
 * with smudging skipped): fetch and check out its object. Exit 4 when that cannot be done.
 */
export async function ensureContent(git: Git, top: string, rel: string): Promise<void> {
  if (!isPointerFile(join(top, rel))) return;
  if (!(await hasGitLfs(git))) throw lfsMissing(`${rel} is stored with git-lfs: reading its records`);
  await git.run([...PROGRESS, 'lfs', 'pull', `--include=${rel}`, '--exclude='], { network: true, what: `git lfs pull of ${rel}` });
  if (isPointerFile(join(top, rel))) {
    throw new SyncerError('REMOTE', `${rel} is a git-lfs pointer and its object could not be fetched`, {
      hint: 'check the remote holds the LFS objects (git lfs fetch), then run the command again',
    });
  }
}
