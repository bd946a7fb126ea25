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
import { attributesUseLfs, datasetUsesLfs, hasGitLfs, lfsFiles, lfsMissing } from '../../adapters/lfs.js';
import { objectStoreBytes } from '../../adapters/git-repo.js';
import { catObjects, localObjectSizes, lsTree, missingObjects, readBlob, readTags, resolveRev } from '../../adapters/git-objects.js';
import { fetchObjects, fetchRefs, forgetPromisor } from '../../adapters/git-remote.js';
import {
  escapingLinks,
  isFile,
  isLink,
  limitProblem,
  linksProblem,
  mismatchProblem,
  parseCatFileBatch,
  type ContentLimits,
  type Size,
  type TreeEntry,
} from '../../core/dataset-contents.js';

const missingRef = (e: unknown) => e instanceof SyncerError && /couldn't find remote ref/i.test(e.message);

interface TagFetch {
  /** The remote's ref that backs the advertisement. */
  source: string;
  failure?: PartialFetchFailure;
}

const fetchWhat = (ad: Advertisement) => `git fetch of ${ad.tag} from ${redactUrl(ad.remote)}`;

/** Fetch `source` into the local tag: partial and shallow, or (dumb http) whole. */
async function fetchRef(git: Git, ad: Advertisement, proto: string[], source: string): Promise<TagFetch> {
  const refspec = `+${source}:refs/tags/${ad.tag}`;
  try {
    const { stderr } = await fetchRefs(git, 'origin', [refspec], { proto, what: fetchWhat(ad), filter: 'blob:none', depth: 1 });
    return { source, ...(filterIgnored(stderr) ? { failure: 'no-filter' as const } : {}) };
  } catch (e) {
    if (!(e instanceof SyncerError && dumbHttp(e.message))) throw e;
    await forgetPromisor(git, 'origin'); // else fetch applies the filter again, and a dumb server never answers it
    await fetchRefs(git, 'origin', [refspec], { proto, what: fetchWhat(ad) });
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
  const tag = (await readTags(git, [tagRef])).get(tagRef);
  // A tag of a tag: peeled all the way, as git would check it out.
  const target = tag?.target ?? (tag ? await resolveRev(git, `${tagRef}^{commit}`) : undefined);
  if (target !== ad.commit) {
    throw verifyError(
      `the remote's tag ${ad.tag} points to ${target?.slice(0, 12) ?? 'nothing'}, but the registry advertises ${ad.commit.slice(0, 12)}`,
      'the operator may have re-synced a moment ago: run retrieve again; if it persists, the registry entry is not trustworthy',
    );
  }
  const problem = tagMessageProblem(tag!.message, ad);
  if (problem) throw verifyError(`${ad.tag} in the remote: ${problem}`);
}

/** .gitattributes files checkout reads for the dataset: at the root and in each parent directory. */
function attributeFiles(path: string): string[] {
  const out = ['.gitattributes'];
  for (let d = dirname(path); d !== '.' && d !== '/'; d = dirname(d)) out.push(`${d}/.gitattributes`);
  return out;
}

const inside = (entry: TreeEntry, path: string) => entry.path === path || entry.path.startsWith(`${path}/`);
const blobIds = (entries: TreeEntry[]) => [...new Set(entries.flatMap((e) => (e.type === 'blob' ? [e.oid] : [])))];

/** What a fetch of the advertised commit brought: the dataset's entries, and the blobs checkout reads. */
interface Listing {
  /** The dataset's entries (no sizes: its blobs may not be here yet). */
  entries: TreeEntry[];
  /** Blobs of the dataset and of the .gitattributes files checkout reads for it. */
  blobs: string[];
  /** The .gitattributes blobs git-lfs reads for the dataset (the root one and those inside it). */
  attributes: string[];
}

/** The dataset's tree and the attributes that apply to it, in one listing (trees are local after the tag fetch). */
async function listDataset(git: Git, ad: Advertisement): Promise<Listing> {
  const listed = await lsTree(git, ad.commit, [ad.path, ...attributeFiles(ad.path)]);
  const entries = listed.filter((e) => inside(e, ad.path));
  const isAttributes = (e: TreeEntry) => e.type === 'blob' && (e.path === '.gitattributes' || (inside(e, ad.path) && e.path.endsWith('/.gitattributes')));
  return { entries, blobs: blobIds(listed), attributes: blobIds(listed.filter(isAttributes)) };
}

/** Which of `blobs` are not in the local store, without fetching them (a fresh repository has none of them). */
async function missingOf(git: Git, commit: string, blobs: string[], fresh: boolean): Promise<string[]> {
  if (fresh || blobs.length === 0) return blobs;
  const missing = new Set(await missingObjects(git, commit));
  return blobs.filter((b) => missing.has(b));
}

/** Does the dataset store files with git-lfs (its .gitattributes, local by now, read in one process)? */
async function usesLfs(git: Git, attributes: string[], proto: string[]): Promise<boolean> {
  if (attributes.length === 0) return false;
  const texts = parseCatFileBatch(await catObjects(git, attributes, proto), attributes);
  for (const oid of attributes) if (attributesUseLfs(texts?.get(oid) ?? (await readBlob(git, oid, proto)))) return true;
  return false;
}

/**
 * Fetch these blobs by id; where the remote refuses single objects (protocol v0 without
 * allowReachableSHA1InWant), the whole commit instead. Returns the failure to report, if any.
 */
async function fetchByIds(git: Git, ad: Advertisement, proto: string[], source: string, blobs: string[]): Promise<PartialFetchFailure | undefined> {
  if (blobs.length === 0) return undefined;
  try {
    await fetchObjects(git, 'origin', blobs, { proto, filter: 'blob:none', what: `git fetch of the files of ${ad.tag} from ${redactUrl(ad.remote)}` });
    return undefined;
  } catch (e) {
    if (!(e instanceof SyncerError && singleObjectsRefused(e.message))) throw e;
    await fetchWholeCommit(git, ad, proto, source);
    await verifyTag(git, ad);
    return 'no-single-objects';
  }
}

/** The whole commit at depth 1: what any server that lets a peer clone the tag serves. */
async function fetchWholeCommit(git: Git, ad: Advertisement, proto: string[], source: string): Promise<void> {
  await forgetPromisor(git, 'origin');
  await fetchRefs(git, 'origin', [`+${source}:refs/tags/${ad.tag}`], { proto, what: fetchWhat(ad), depth: 1, refetch: true });
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

/** Bytes as sync advertises them: blobs at their size, git-lfs pointers at their object's size. */
async function realBytes(git: Git, commit: string, path: string, entries: TreeEntry[], lfs: boolean): Promise<number> {
  let bytes = entries.filter(isFile).reduce((n, e) => n + (e.size ?? 0), 0);
  if (!lfs) return bytes;
  if (!(await hasGitLfs(git))) throw lfsMissing(`the dataset ${path}/ stores files with git-lfs: retrieving it`);
  const pointer = new Map(entries.map((e) => [e.path, e.size ?? 0]));
  for (const f of await lfsFiles(git, commit, path)) bytes += f.size - (pointer.get(f.name) ?? 0);
  return bytes;
}

/** Link targets (blob contents) by path, read from the local store in one process when possible. */
async function linkTargets(git: Git, links: TreeEntry[]): Promise<Map<string, string>> {
  if (links.length === 0) return new Map();
  const oids = [...new Set(links.map((l) => l.oid))];
  let contents = parseCatFileBatch(await catObjects(git, oids), oids);
  if (!contents) {
    // Not UTF-8 (or framing in doubt): one object at a time, still local.
    contents = new Map();
    for (const oid of oids) contents.set(oid, await readBlob(git, oid));
  }
  return new Map(links.map((l) => [l.path, contents!.get(l.oid) ?? '']));
}

/** Why the dataset's entries (with their sizes) must not be taken. */
async function contentsProblem(git: Git, ad: Advertisement, policy: ContentPolicy, entries: TreeEntry[], lfs: boolean, what: string) {
  const size: Size = { files: entries.filter(isFile).length, bytes: await realBytes(git, ad.commit, ad.path, entries, lfs) };
  const sizeProblem = mismatchProblem(size, ad, what) ?? limitProblem(size, policy.limits, what);
  if (sizeProblem || policy.allowSymlinks) return sizeProblem;
  return linksProblem(escapingLinks(await linkTargets(git, entries.filter(isLink)), ad.path), what);
}

/**
 * Why the dataset at `ad.commit` must not be taken, once its blobs are in `git`'s object store:
 * a size other than the signed one, a size over this machine's limits, or links out of it.
 */
export async function datasetContentsProblem(
  git: Git,
  ad: Advertisement,
  policy: ContentPolicy,
  what = described(ad),
): Promise<{ message: string; hint: string } | undefined> {
  const entries = await lsTree(git, ad.commit, [ad.path], { sizes: true });
  return contentsProblem(git, ad, policy, entries, await datasetUsesLfs(git, ad.commit, ad.path), what);
}

/**
 * The dataset's entries with their sizes, read from the local store in one process that never
 * fetches: every blob checkout reads must be here now, else the remote did not send it.
 */
async function localEntries(git: Git, ad: Advertisement, listing: Listing): Promise<TreeEntry[]> {
  const sizes = await localObjectSizes(git, listing.blobs);
  if (sizes) return listing.entries.map((e) => (e.type === 'blob' ? { ...e, size: sizes.get(e.oid)! } : e));
  const missing = await missingOf(git, ad.commit, listing.blobs, false);
  if (missing.length === 0) return lsTree(git, ad.commit, [ad.path], { sizes: true }); // here after all (a read that failed otherwise)
  throw new SyncerError('REMOTE', `the remote ${redactUrl(ad.remote)} did not send ${missing.length} of the files of ${ad.tag}`, {
    hint: 'run retrieve again; if it persists, the remote is missing objects (ask the operator to sync again)',
  });
}

export interface Fetched {
  /** The dataset stores files with git-lfs (checkout then needs their objects). */
  lfs: boolean;
}

/**
 * Fetch and verify the advertised commit and its dataset's files; `warn` is told of a fallback
 * once. `fresh`: `git` is a repository just made, with no object of its own yet.
 */
export async function fetchAdvertised(
  git: Git,
  ad: Advertisement,
  proto: string[],
  warn: (message: string) => void,
  policy: ContentPolicy,
  fresh = false,
): Promise<Fetched> {
  // A signed size over the limits needs no download to refuse.
  refuse(limitProblem(ad, policy.limits, described(ad)));
  const before = await objectStoreBytes(git);
  const tag = await fetchTag(git, ad, proto);
  // The tag's check and the dataset's listing read the local store at once; the tag's failure is
  // said first. The trees are here, the blobs not yet (partial fetch): the file count is known
  // before the bytes, so a tree of thousands of files advertised as one is refused before they come.
  const listed = listDataset(git, ad);
  listed.catch(() => undefined); // awaited below, after the tag's check
  await verifyTag(git, ad);
  const listing = await listed;
  const files = listing.entries.filter(isFile).length;
  refuse(mismatchProblem({ files }, ad, described(ad)) ?? limitProblem({ files }, policy.limits, described(ad)));
  let failure = tag.failure;
  if (!failure) failure = await fetchByIds(git, ad, proto, tag.source, await missingOf(git, ad.commit, listing.blobs, fresh));
  const lfs = await usesLfs(git, listing.attributes, proto);
  // git-lfs 3.3 lists a commit's LFS files with `ls-tree -l --full-tree` (sizes of every blob), so
  // in a partial clone it would fetch the other datasets' blobs lazily, one process each: bring
  // them in one more fetch instead (pointers and small files; LFS objects stay per path).
  if (!failure && lfs) failure = await fetchByIds(git, ad, proto, tag.source, await missingObjects(git, ad.commit));
  if (failure) warn(fallbackWarning(redactUrl(ad.remote), failure, (await objectStoreBytes(git)) - before));
  // Blobs local, nothing checked out yet: the last moment to refuse without touching the target.
  refuse(await contentsProblem(git, ad, policy, await localEntries(git, ad, listing), lfs, described(ad)));
  return { lfs };
}
