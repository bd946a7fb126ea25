/**
 * What sync advertises of the dataset (files, bytes, whether it uses LFS) at a cost that follows
 * what changed: the repository records the count of the last sync of each dataset path (in its
 * git dir), and the next count is that one plus the entries that differ between the two commits
 * (one diff-tree that skips unchanged subtrees, one cat-file of the changed blobs' sizes). Where
 * that cannot answer (no record, a record of another commit that is gone, a dataset with LFS, a
 * .gitattributes among the changes, an object not here) the whole tree is listed as before
 * (lfs.ts's datasetSize). Both give the same numbers (test/unit/sync-size.test.ts).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Git } from '../../adapters/git.js';
import { diffTrees, localObjectSizes, type TreeChange } from '../../adapters/git-objects.js';
import { datasetSize, type DatasetSize } from '../../adapters/lfs.js';

/** The record's file in the git dir: `{ "<path>": { commit, files, bytes } }`, datasets without LFS only. */
export const SIZES_FILE = 'syncer-sizes.json';

interface Recorded {
  commit: string;
  files: number;
  bytes: number;
}

const GITLINK = '160000';
const ABSENT = '000000';
/** A blob entry (a file or a link; submodules and absent sides are not). */
const isBlobMode = (mode: string) => mode !== ABSENT && mode !== GITLINK && !mode.startsWith('04');

function readRecords(gitDir: string): Record<string, Recorded> {
  try {
    const parsed = JSON.parse(readFileSync(join(gitDir, SIZES_FILE), 'utf8')) as unknown;
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, Recorded>) : {};
  } catch {
    return {};
  }
}

function recordFor(gitDir: string, path: string): Recorded | undefined {
  const r = readRecords(gitDir)[path];
  const ok =
    r &&
    typeof r.commit === 'string' &&
    /^[0-9a-f]{40,64}$/.test(r.commit) &&
    Number.isSafeInteger(r.files) &&
    r.files >= 0 &&
    Number.isSafeInteger(r.bytes) &&
    r.bytes >= 0;
  return ok ? r : undefined;
}

/** Keep (or, for a dataset with LFS, drop) the count of `path` at `commit`. A record that cannot be written is only a slower next sync. */
function record(gitDir: string, path: string, commit: string, size: DatasetSize): void {
  try {
    const records = readRecords(gitDir);
    if (size.usesLfs) delete records[path];
    else records[path] = { commit, files: size.files, bytes: size.bytes };
    const tmp = join(gitDir, `${SIZES_FILE}.${process.pid}.tmp`);
    writeFileSync(tmp, `${JSON.stringify(records)}\n`);
    renameSync(tmp, join(gitDir, SIZES_FILE));
  } catch {
    // read-only git dir, full disk: the next sync lists the tree
  }
}

const inside = (path: string, rel: string) => rel === path || rel.startsWith(`${path}/`);
const isAttributes = (rel: string) => rel === '.gitattributes' || rel.endsWith('/.gitattributes');

/** The count at `commit` from the count at `from` and the changes between them; undefined when they do not tell. */
async function countFrom(git: Git, from: Recorded, commit: string, path: string): Promise<DatasetSize | undefined> {
  if (from.commit === commit) return { files: from.files, bytes: from.bytes, usesLfs: false };
  const changes = await diffTrees(git, from.commit, commit, ['.gitattributes', path]);
  // A changed .gitattributes may route files through LFS (or stop doing so): counted from the tree.
  if (!changes || changes.some((c) => isAttributes(c.path))) return undefined;
  const inPath = changes.filter((c) => inside(path, c.path));
  const oids = new Set<string>();
  for (const c of inPath) {
    if (isBlobMode(c.oldMode)) oids.add(c.oldOid);
    if (isBlobMode(c.newMode)) oids.add(c.newOid);
  }
  const sizes = await localObjectSizes(git, [...oids]);
  if (!sizes) return undefined;
  let { files, bytes } = from;
  for (const c of inPath) files += side(c, 'new') - side(c, 'old');
  for (const c of inPath) bytes += (isBlobMode(c.newMode) ? sizes.get(c.newOid)! : 0) - (isBlobMode(c.oldMode) ? sizes.get(c.oldOid)! : 0);
  return files >= 0 && bytes >= 0 ? { files, bytes, usesLfs: false } : undefined;
}

const side = (c: TreeChange, which: 'old' | 'new') => (isBlobMode(which === 'old' ? c.oldMode : c.newMode) ? 1 : 0);

/**
 * {files, bytes, usesLfs} of the dataset `path` at `commit`, as lfs.ts's datasetSize counts them,
 * from the repository's record of its last count when that can tell; the count is recorded for
 * the next sync (the caller holds the sync lock of the repository at `gitDir`).
 */
export async function committedSize(git: Git, gitDir: string | undefined, commit: string, path: string): Promise<DatasetSize> {
  const previous = gitDir ? recordFor(gitDir, path) : undefined;
  const size = (previous && (await countFrom(git, previous, commit, path))) ?? (await datasetSize(git, commit, path));
  const changed = size.usesLfs ? previous !== undefined : previous?.commit !== commit;
  if (gitDir && changed) record(gitDir, path, commit, size);
  return size;
}
