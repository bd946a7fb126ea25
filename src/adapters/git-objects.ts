/**
 * Reads of a repository's objects and refs: trees, blobs, tag objects, which objects are local,
 * ref listings. Each read says whether it may fetch lazily (a blob-less clone fetches a missing
 * object on demand): `pre` carries the caller's protocol rules when it may, LOCAL_ONLY when it
 * must not.
 */
import { parseLsTree, type TreeEntry } from '../core/dataset-contents.js';
import type { Git } from './git.js';

/**
 * `-c` options under which git cannot reach any remote, whatever the user's configuration allows
 * per protocol (protocol.<name>.allow outranks protocol.allow): a read that would fetch fails.
 */
export const LOCAL_ONLY = [
  '-c',
  'protocol.allow=never',
  ...['file', 'git', 'ssh', 'http', 'https', 'ext', 'fd'].flatMap((p) => ['-c', `protocol.${p}.allow=never`]),
];

/** Entries under `paths` at `commit` (recursive, from the root); `sizes` reads every blob (lazily fetched if missing). */
export async function lsTree(git: Git, commit: string, paths: string[], options: { sizes?: boolean } = {}): Promise<TreeEntry[]> {
  return parseLsTree(await git.run(['ls-tree', '-r', '-z', ...(options.sizes ? ['-l'] : []), '--full-tree', commit, '--', ...paths]));
}

/** One changed entry between two trees (`git diff-tree --raw`): modes '000000' and zero ids for a side without it. */
export interface TreeChange {
  oldMode: string;
  newMode: string;
  oldOid: string;
  newOid: string;
  path: string;
}

/**
 * Entries under `paths` that differ between the trees of `from` and `to` (recursive, no rename
 * detection: a rename is a deletion and an addition), never fetched; undefined when either commit
 * is not here. Costs what changed: unchanged subtrees are skipped by their ids.
 */
export async function diffTrees(git: Git, from: string, to: string, paths: string[]): Promise<TreeChange[] | undefined> {
  const out = await git.tryRun([...LOCAL_ONLY, 'diff-tree', '-r', '-z', '--raw', '--no-renames', '--full-index', from, to, '--', ...paths]);
  if (out === undefined) return undefined;
  // Each change is ":OLDMODE NEWMODE OLDOID NEWOID STATUS\0PATH\0".
  const records = out.split('\0');
  const changes: TreeChange[] = [];
  for (let i = 0; i + 1 < records.length; i += 2) {
    const m = /^:(\d{6}) (\d{6}) ([0-9a-f]+) ([0-9a-f]+) [A-Z]\d*$/.exec(records[i]!);
    if (!m) return undefined;
    changes.push({ oldMode: m[1]!, newMode: m[2]!, oldOid: m[3]!, newOid: m[4]!, path: records[i + 1]! });
  }
  return changes;
}

/** Objects reachable from `commit` that are not in the local store (found without fetching them). */
export async function missingObjects(git: Git, commit: string): Promise<string[]> {
  const walk = await git.run(['rev-list', '--objects', '--missing=print', '--no-object-names', commit]);
  return walk.split('\n').flatMap((l) => (l.startsWith('?') ? [l.slice(1)] : []));
}

/** Sizes of these objects, read in one process that never fetches: undefined when any is not local. */
export async function localObjectSizes(git: Git, oids: string[]): Promise<Map<string, number> | undefined> {
  if (oids.length === 0) return new Map();
  const out = await git.tryRun([...LOCAL_ONLY, 'cat-file', '--batch-check=%(objectname) %(objectsize)'], { input: `${oids.join('\n')}\n` });
  if (out === undefined) return undefined;
  const sizes = new Map<string, number>();
  for (const line of out.split('\n')) {
    const m = /^([0-9a-f]+) (\d+)$/.exec(line);
    if (m) sizes.set(m[1]!, Number(m[2]));
  }
  return oids.every((o) => sizes.has(o)) ? sizes : undefined;
}

/** `git cat-file --batch` of these objects, as text (parse with core's parseCatFileBatch). */
export async function catObjects(git: Git, oids: string[], pre: string[] = []): Promise<string> {
  return git.run([...pre, 'cat-file', '--batch'], { input: `${oids.join('\n')}\n` });
}

/** One blob's content as text (`rev` an object id or `commit:path`). */
export async function readBlob(git: Git, rev: string, pre: string[] = []): Promise<string> {
  return git.run([...pre, 'cat-file', 'blob', rev], { what: `reading ${rev}` });
}

/** A file of a local commit, never fetched: undefined when the commit has no such file here. */
export async function readLocalFile(git: Git, commit: string, path: string): Promise<string | undefined> {
  return git.tryRun([...LOCAL_ONLY, 'cat-file', 'blob', `${commit}:${path}`]);
}

/** A file at `rev` as `git show` prints it. */
export async function showFile(git: Git, rev: string, path: string): Promise<string> {
  return git.run(['show', `${rev}:${path}`]);
}

/** The object `rev` names (a ref, or `commit:path`), or undefined; `pre` lets it fetch lazily. */
export async function resolveRev(git: Git, rev: string, pre: string[] = []): Promise<string | undefined> {
  return (await git.tryRun([...pre, 'rev-parse', '--verify', '--quiet', rev]))?.trim() || undefined;
}

/** One ref under refs/tags/ (or any prefix) with its object and, for annotated tags, what it points at. */
export interface RefEntry {
  ref: string;
  id: string;
  type: string;
  size: number;
  /** The object an annotated tag points at ('' for anything else). */
  peeled: string;
}

/** Every ref under `prefix` (a directory such as refs/tags/). */
export async function listRefs(git: Git, prefix: string): Promise<RefEntry[]> {
  const out = await git.run(['for-each-ref', '--format=%(objectname) %(objecttype) %(objectsize) %(refname) %(*objectname)', '--', prefix]);
  const refs: RefEntry[] = [];
  for (const line of out.split('\n')) {
    const m = /^([0-9a-f]+) (\S+) (\d+) (refs\/\S+) ?([0-9a-f]*)$/.exec(line);
    if (m) refs.push({ id: m[1]!, type: m[2]!, size: Number(m[3]), ref: m[4]!, peeled: m[5]! });
  }
  return refs;
}

/** Where these refs point now (refs that do not exist are absent). */
export async function refTargets(git: Git, refs: string[]): Promise<Map<string, string>> {
  if (refs.length === 0) return new Map();
  const out = await git.run(['for-each-ref', '--format=%(refname) %(objectname)', '--', ...refs]);
  return new Map(out.split('\n').flatMap((l) => (/^(\S+) ([0-9a-f]+)$/.exec(l) ? [[l.split(' ')[0]!, l.split(' ')[1]!] as [string, string]] : [])));
}

export interface TagRecord {
  /** The commit the ref leads to in one step (a lightweight tag's own, an annotated tag's target), else undefined. */
  target?: string;
  /** What an annotated tag points at ('' for a lightweight tag). */
  peeled: string;
  /** The tag's message (a lightweight tag: its commit's message). */
  message: string;
}

/** These tags' targets and messages in one process (a process per tag cost seconds per 500 tags). */
export async function readTags(git: Git, refs: string[]): Promise<Map<string, TagRecord>> {
  const tags = new Map<string, TagRecord>();
  if (refs.length === 0) return tags;
  // Every field ends with NUL (which no ref name or message holds); git ends each record with a newline.
  const fields = ['refname', 'objecttype', 'objectname', '*objecttype', '*objectname', 'contents'];
  const out = await git.run(['for-each-ref', `--format=${fields.map((f) => `%(${f})%00`).join('')}`, '--', ...refs]);
  const values = out.split('\0');
  for (let i = 0; i + fields.length <= values.length; i += fields.length) {
    const [ref, type, id, peeledType, peeled, message] = [values[i]!.replace(/^\n/, ''), ...values.slice(i + 1, i + fields.length)] as string[];
    const target = type === 'commit' ? id : peeledType === 'commit' ? peeled : undefined;
    tags.set(ref!, { ...(target ? { target } : {}), peeled: peeled ?? '', message: message ?? '' });
  }
  return tags;
}

/** The message of the tag refs/tags/`tag`, or undefined when there is none. */
export async function tagMessage(git: Git, tag: string): Promise<string | undefined> {
  return (await readTags(git, [`refs/tags/${tag}`])).get(`refs/tags/${tag}`)?.message;
}

/** Is `ancestor` an ancestor of (or equal to) `commit`? */
export async function isAncestor(git: Git, ancestor: string, commit: string): Promise<boolean> {
  return (await git.tryRun(['merge-base', '--is-ancestor', ancestor, commit])) !== undefined;
}

/** Commits that changed `path`, oldest first along the first parent, in `from..to` (all of `to` without `from`). */
export async function firstParentLog(git: Git, from: string | undefined, to: string, path: string): Promise<{ commit: string; subject: string }[]> {
  const log = await git.run(['log', '--first-parent', '--reverse', '--format=%H%x09%s', from ? `${from}..${to}` : to, '--', path]);
  return log
    .split('\n')
    .filter(Boolean)
    .map((entry) => ({ commit: entry.slice(0, entry.indexOf('\t')), subject: entry.slice(entry.indexOf('\t') + 1) }));
}

/** These objects' raw `cat-file --batch` output, never fetched (tag objects a reindex reads). */
export async function readObjectsBytes(git: Git, oids: string[]): Promise<Buffer> {
  const { out } = await git.bytes([...LOCAL_ONLY, 'cat-file', '--batch'], { input: `${oids.join('\n')}\n`, what: 'git cat-file --batch' });
  return out;
}

/** A blob of at most `maxBytes` (`truncated`: it is larger); `pre` lets it fetch lazily. */
export async function readBlobBounded(git: Git, oid: string, maxBytes: number, what: string, pre: string[] = []): Promise<{ out: Buffer; truncated: boolean }> {
  return git.bytes([...pre, 'cat-file', 'blob', oid], { maxBytes, what });
}

/**
 * The file `path` at `commit` written to the open file `fd` (any size, never in memory); with
 * `filters` through the file's filters (git-lfs content rather than its pointer). False when the
 * commit has no such file.
 */
export async function writeFileAt(git: Git, commit: string, path: string, fd: number, options: { filters?: boolean } = {}): Promise<boolean> {
  return git.toFile(['cat-file', options.filters ? '--filters' : 'blob', `${commit}:${path}`], fd);
}
