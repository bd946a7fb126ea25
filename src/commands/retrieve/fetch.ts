/**
 * Bring an advertised commit and its dataset's files into a local repository. Partial where the
 * remote allows it (the commit's trees, then exactly the dataset's blobs); wherever a plain clone
 * of the tag works but a partial fetch does not (filters off, protocol v0 without
 * allowReachableSHA1InWant, a dumb http server), the whole commit instead, said once on stderr
 * with the size and the server setting that avoids it.
 */
import { dirname } from 'node:path';
import { SyncerError, verifyError } from '../../errors.js';
import { tagMessageProblem, type Advertisement } from '../../core/advertisement.js';
import { redactUrl } from '../../core/remote-url.js';
import { dumbHttp, fallbackWarning, filterIgnored, singleObjectsRefused, type PartialFetchFailure } from '../../core/partial-fetch.js';
import type { Git } from '../../adapters/git.js';
import { datasetUsesLfs, hasGitLfs, lfsFiles, lfsMissing } from '../../adapters/lfs.js';
import {
  contentLimits, escapingLinks, isFile, isLink, limitProblem, linksProblem, mismatchProblem, parseCatFileBatch, parseLsTree,
  type ContentLimits, type Size, type TreeEntry,
} from '../../core/dataset-contents.js';

const missingRef = (e: unknown) => e instanceof SyncerError && /couldn't find remote ref/i.test(e.message);

/** Bytes in the repository's object store (packs and loose objects). */
async function storeBytes(git: Git): Promise<number> {
  const out = await git.run(['count-objects', '-v']);
  const kib = (key: string) => Number(new RegExp(`^${key}: (\\d+)$`, 'm').exec(out)?.[1] ?? 0);
  return (kib('size') + kib('size-pack')) * 1024;
}

interface TagFetch {
  /** The remote's ref that backs the advertisement. */
  source: string;
  failure?: PartialFetchFailure;
}

/** Fetch `source` into the local tag: partial and shallow, or (dumb http) whole. */
async function fetchRef(git: Git, ad: Advertisement, proto: string[], source: string): Promise<TagFetch> {
  const refspec = `+${source}:refs/tags/${ad.tag}`;
  const what = `git fetch of ${ad.tag} from ${redactUrl(ad.remote)}`;
  try {
    const { stderr } = await git.transfer([...proto, 'fetch', '--no-tags', '--filter=blob:none', '--depth=1', 'origin', refspec], { what });
    return { source, ...(filterIgnored(stderr) ? { failure: 'no-filter' as const } : {}) };
  } catch (e) {
    if (!(e instanceof SyncerError && dumbHttp(e.message))) throw e;
    await notPromisor(git); // else fetch applies the filter again, and a dumb server never answers it
    await git.transfer([...proto, 'fetch', '--no-tags', 'origin', refspec], { what });
    return { source, failure: 'dumb-http' };
  }
}

/** The advertised tag, or an archive's (`syncer mirror` keeps refs/tags/<operator>/<hub>/<date>). */
async function fetchTag(git: Git, ad: Advertisement, proto: string[]): Promise<TagFetch> {
  try {
    return await fetchRef(git, ad, proto, `refs/tags/${ad.tag}`);
  } catch (e) {
    if (!missingRef(e)) throw e;
  }
  try {
    return await fetchRef(git, ad, proto, `refs/tags/${ad.operator}/${ad.hub}/${ad.date}`);
  } catch (e) {
    if (!missingRef(e)) throw e;
    // The remote answered, and holds nothing that backs the advertisement.
    throw verifyError(
      `the remote ${redactUrl(ad.remote)} has no tag ${ad.tag}: the registry advertises a commit its operator's remote does not back`,
      'ask the operator to sync again (it pushes the tag before advertising); until then this entry cannot be retrieved',
    );
  }
}

/** The fetched tag must point at the advertised commit and carry the same advertisement (all but the remote). */
async function verifyTag(git: Git, ad: Advertisement): Promise<void> {
  const tagRef = `refs/tags/${ad.tag}`;
  const target = await git.revParse(tagRef);
  if (target !== ad.commit) {
    throw verifyError(
      `the remote's tag ${ad.tag} points to ${target?.slice(0, 12) ?? 'nothing'}, but the registry advertises ${ad.commit.slice(0, 12)}`,
      'the operator may have re-synced a moment ago: run retrieve again; if it persists, the registry entry is not trustworthy',
    );
  }
  const problem = tagMessageProblem(await git.run(['for-each-ref', '--format=%(contents)', '--', tagRef]), ad);
  if (problem) throw verifyError(`${ad.tag} in the remote: ${problem}`);
}

/** .gitattributes files checkout reads for the dataset: at the root and in each parent directory. */
function attributeFiles(path: string): string[] {
  const out = ['.gitattributes'];
  for (let d = dirname(path); d !== '.' && d !== '/'; d = dirname(d)) out.push(`${d}/.gitattributes`);
  return out;
}

/** Blobs of the dataset (and the attributes checkout reads) not in the local store, without fetching them. */
async function missingBlobs(git: Git, ad: Advertisement): Promise<string[]> {
  const listed = await git.run(['ls-tree', '-r', '-z', '--full-tree', ad.commit, '--', ad.path, ...attributeFiles(ad.path)]);
  const wanted = new Set(parseLsTree(listed).flatMap((e) => (e.type === 'blob' ? [e.oid] : [])));
  if (wanted.size === 0) return [];
  const walk = await git.run(['rev-list', '--objects', '--missing=print', '--no-object-names', ad.commit]);
  return walk.split('\n').flatMap((l) => (l.startsWith('?') && wanted.has(l.slice(1)) ? [l.slice(1)] : []));
}

/** Every blob of the commit not in the local store, without fetching. */
async function missingCommitBlobs(git: Git, commit: string): Promise<string[]> {
  const walk = await git.run(['rev-list', '--objects', '--missing=print', '--no-object-names', commit]);
  return walk.split('\n').flatMap((l) => (l.startsWith('?') ? [l.slice(1)] : []));
}

/**
 * Fetch these blobs by id; where the remote refuses single objects (protocol v0 without
 * allowReachableSHA1InWant), the whole commit instead. Returns the failure to report, if any.
 */
async function fetchByIds(git: Git, ad: Advertisement, proto: string[], source: string, blobs: string[]): Promise<PartialFetchFailure | undefined> {
  if (blobs.length === 0) return undefined;
  try {
    await fetchBlobs(git, ad, proto, blobs);
    return undefined;
  } catch (e) {
    if (!(e instanceof SyncerError && singleObjectsRefused(e.message))) throw e;
    await fetchWholeCommit(git, ad, proto, source);
    await verifyTag(git, ad);
    return 'no-single-objects';
  }
}

/** Exactly the missing blobs, by id (what git's lazy fetch would ask for, but explicit and checked). */
async function fetchBlobs(git: Git, ad: Advertisement, proto: string[], blobs: string[]): Promise<void> {
  await git.transfer([...proto, '-c', 'fetch.negotiationAlgorithm=noop', 'fetch', '--no-tags', '--no-write-fetch-head', '--filter=blob:none', '--stdin', 'origin'], {
    what: `git fetch of the files of ${ad.tag} from ${redactUrl(ad.remote)}`,
    input: blobs.join('\n') + '\n',
  });
}

/** Forget the partial-clone settings a filtered fetch left (the next fetch would reuse them). */
async function notPromisor(git: Git): Promise<void> {
  for (const key of ['remote.origin.promisor', 'remote.origin.partialclonefilter']) await git.tryRun(['config', '--unset', key]);
}

/** The whole commit at depth 1: what any server that lets a peer clone the tag serves. */
async function fetchWholeCommit(git: Git, ad: Advertisement, proto: string[], source: string): Promise<void> {
  await notPromisor(git);
  await git.transfer([...proto, 'fetch', '--refetch', '--no-tags', '--depth=1', 'origin', `+${source}:refs/tags/${ad.tag}`], {
    what: `git fetch of ${ad.tag} from ${redactUrl(ad.remote)}`,
  });
}

// ---------------------------------------------------------------------------------------------
// What the dataset may contain (core/dataset-contents.ts decides; this reads the local store)

export interface ContentPolicy {
  /** Take links that lead out of the dataset (`--allow-symlinks`). */
  allowSymlinks: boolean;
  limits: ContentLimits;
}

const described = (ad: Advertisement) => `${ad.hub}/${ad.date} from ${ad.operator}`;

function refuse(problem: { message: string; hint: string } | undefined): void {
  if (problem) throw verifyError(problem.message, problem.hint);
}

/** The dataset's tree entries (`-l`: with sizes, which reads every blob: only once they are local). */
async function datasetEntries(git: Git, commit: string, path: string, sizes: boolean): Promise<TreeEntry[]> {
  return parseLsTree(await git.run(['ls-tree', '-r', '-z', ...(sizes ? ['-l'] : []), '--full-tree', commit, '--', path]));
}

/** Bytes as sync advertises them: blobs at their size, git-lfs pointers at their object's size. */
async function realBytes(git: Git, commit: string, path: string, entries: TreeEntry[]): Promise<number> {
  let bytes = entries.filter(isFile).reduce((n, e) => n + (e.size ?? 0), 0);
  if (!(await datasetUsesLfs(git, commit, path))) return bytes;
  if (!(await hasGitLfs(git))) throw lfsMissing(`the dataset ${path}/ stores files with git-lfs: retrieving it`);
  const pointer = new Map(entries.map((e) => [e.path, e.size ?? 0]));
  for (const f of await lfsFiles(git, commit, path)) bytes += f.size - (pointer.get(f.name) ?? 0);
  return bytes;
}

/** Link targets (blob contents) by path, read from the local store in one process when possible. */
async function linkTargets(git: Git, links: TreeEntry[]): Promise<Map<string, string>> {
  if (links.length === 0) return new Map();
  const oids = [...new Set(links.map((l) => l.oid))];
  let contents = parseCatFileBatch(await git.run(['cat-file', '--batch'], { input: oids.join('\n') + '\n' }), oids);
  if (!contents) {
    // Not UTF-8 (or framing in doubt): one object at a time, still local.
    contents = new Map();
    for (const oid of oids) contents.set(oid, await git.run(['cat-file', 'blob', oid]));
  }
  return new Map(links.map((l) => [l.path, contents!.get(l.oid) ?? '']));
}

/**
 * Why the dataset at `ad.commit` must not be taken, once its blobs are in `git`'s object store:
 * a size other than the signed one, a size over this machine's limits, or links out of it.
 */
export async function datasetContentsProblem(git: Git, ad: Advertisement, policy: ContentPolicy, what = described(ad)): Promise<{ message: string; hint: string } | undefined> {
  const entries = await datasetEntries(git, ad.commit, ad.path, true);
  const size: Size = { files: entries.filter(isFile).length, bytes: await realBytes(git, ad.commit, ad.path, entries) };
  const sizeProblem = mismatchProblem(size, ad, what) ?? limitProblem(size, policy.limits, what);
  if (sizeProblem || policy.allowSymlinks) return sizeProblem;
  return linksProblem(escapingLinks(await linkTargets(git, entries.filter(isLink)), ad.path), what);
}

/** Every blob of the dataset is local now: reading sizes and link targets must never fetch lazily. */
async function requireLocalBlobs(git: Git, ad: Advertisement): Promise<void> {
  const missing = await missingBlobs(git, ad);
  if (missing.length === 0) return;
  throw new SyncerError('GIT', `the remote ${redactUrl(ad.remote)} did not send ${missing.length} of the files of ${ad.tag}`, {
    hint: 'run retrieve again; if it persists, the remote is missing objects (ask the operator to sync again)',
  });
}

/** Fetch and verify the advertised commit and its dataset's files; `warn` is told of a fallback once. */
export async function fetchAdvertised(git: Git, ad: Advertisement, proto: string[], warn: (message: string) => void, policy: ContentPolicy): Promise<void> {
  // A signed size over the limits needs no download to refuse.
  refuse(limitProblem(ad, policy.limits, described(ad)));
  const before = await storeBytes(git);
  const tag = await fetchTag(git, ad, proto);
  await verifyTag(git, ad);
  // The trees are here, the blobs not yet (partial fetch): the file count is known before the
  // bytes, so a tree of thousands of files advertised as one is refused before they come.
  const files = (await datasetEntries(git, ad.commit, ad.path, false)).filter(isFile).length;
  refuse(mismatchProblem({ files }, ad, described(ad)) ?? limitProblem({ files }, policy.limits, described(ad)));
  let failure = tag.failure;
  if (!failure) failure = await fetchByIds(git, ad, proto, tag.source, await missingBlobs(git, ad));
  // git-lfs 3.3 lists a commit's LFS files with `ls-tree -l --full-tree` (sizes of every blob), so
  // in a partial clone it would fetch the other datasets' blobs lazily, one process each: bring
  // them in one more fetch instead (pointers and small files; LFS objects stay per path).
  if (!failure && (await (await import('../../adapters/lfs.js')).datasetUsesLfs(git, ad.commit, ad.path, proto))) {
    failure = await fetchByIds(git, ad, proto, tag.source, await missingCommitBlobs(git, ad.commit));
  }
  if (failure) warn(fallbackWarning(redactUrl(ad.remote), failure, (await storeBytes(git)) - before));
  // Blobs local, nothing checked out yet: the last moment to refuse without touching the target.
  await requireLocalBlobs(git, ad);
  refuse(await datasetContentsProblem(git, ad, policy));
}
