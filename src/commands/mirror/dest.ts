/**
 * The archive a mirror writes to: a git repository (a local path, created if missing, or a remote
 * URL worked on through a local cache and pushed at the end). Datasets are the operators' own
 * annotated tag objects under refs/tags/<operator>/<hub>/<date>; the mirror's state is a commit on
 * the branch `syncer-mirror` (file state.json).
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SyncerError } from '../../errors.js';
import { tagMessageProblem, type Advertisement } from '../../core/advertisement.js';
import { checkRemoteUrl, isRemoteUrlLike, redactUrl } from '../../core/remote-url.js';
import { protocolArgs, type Git } from '../../adapters/git.js';
import { initBare, isRepository, isRepositoryRoot } from '../../adapters/git-repo.js';
import { readTags, refTargets, resolveRev, showFile } from '../../adapters/git-objects.js';
import { commitFileOnRef, setRef } from '../../adapters/git-history.js';
import { fetchRefs, lsRemote, pushRefs } from '../../adapters/git-remote.js';
import type { Runtime } from '../../runtime.js';
import { emptyState, type MirrorState } from './plan.js';
import { makeDirs } from '../../adapters/dirs.js';
import { archiveLfsObjects, localObjectIds, pushObjectIds } from '../../adapters/lfs.js';

export const STATE_BRANCH = 'refs/heads/syncer-mirror';
export const mirrorTagRef = (ad: { operator: string; hub: string; date: string }) => `refs/tags/${ad.operator}/${ad.hub}/${ad.date}`;

export class MirrorDest {
  private constructor(
    private readonly rt: Runtime,
    readonly git: Git,
    /** Where peers (and `reindex --from-mirror`) reach the archive. */
    readonly url: string,
    /** Set when DEST is a remote: push there at the end. */
    private readonly pushTo?: string,
  ) {}

  static async open(rt: Runtime, dest: string): Promise<MirrorDest> {
    const proto = protocolArgs(rt.config.allowedTransports);
    if (isRemoteUrlLike(dest)) {
      const check = checkRemoteUrl(dest, rt.config.allowedTransports);
      if (!check.ok) throw new SyncerError('USAGE', `--to ${redactUrl(dest)}: ${check.problem}`);
      const cache = join(rt.paths.dataDir, 'mirror-cache', `${createHash('sha256').update(dest).digest('hex').slice(0, 16)}.git`);
      makeDirs(cache);
      const { git } = rt.git(cache);
      if (!(await isRepository(git))) await initBare(git);
      // Bring the cache up to date with the archive (an empty archive has nothing to fetch).
      const heads = await lsRemote(git, dest, { proto, what: `git ls-remote ${redactUrl(dest)}` });
      if (heads.trim()) {
        const refspecs = ['+refs/tags/*:refs/tags/*', ...(heads.includes(STATE_BRANCH) ? [`+${STATE_BRANCH}:${STATE_BRANCH}`] : [])];
        await fetchRefs(git, dest, refspecs, { proto, what: `git fetch from the archive ${redactUrl(dest)}` });
      }
      return new MirrorDest(rt, git, dest, dest);
    }
    const path = resolve(rt.deps.cwd, dest);
    if (!existsSync(path)) makeDirs(path);
    const { git } = rt.git(path);
    // Only a repository rooted at DEST: a directory inside someone's working tree gets its own.
    if (!(await isRepositoryRoot(git, path))) await initBare(git);
    return new MirrorDest(rt, git, `file://${path}`);
  }

  async readState(): Promise<{ state: MirrorState; head?: string }> {
    const head = await resolveRev(this.git, STATE_BRANCH);
    if (!head) return { state: emptyState() };
    const text = await showFile(this.git, head, 'state.json');
    try {
      const state = JSON.parse(text) as MirrorState;
      if (state.version !== 1 || typeof state.entries !== 'object' || typeof state.hubs !== 'object') throw new Error('unknown layout');
      return { state, head };
    } catch (e) {
      throw new SyncerError('USAGE', `the mirror state in ${this.url} (${STATE_BRANCH}:state.json) is not readable: ${(e as Error).message}`);
    }
  }

  /** Commit the state on the state branch (compare-and-swap on the head read before). */
  async writeState(state: MirrorState, previousHead: string | undefined, message: string): Promise<void> {
    const file = { name: 'state.json', text: `${JSON.stringify(state, null, 1)}\n` };
    await commitFileOnRef(this.git, STATE_BRANCH, file, previousHead, message, { name: 'syncer mirror', email: 'syncer@localhost' });
  }

  /** What the archive's refs for these advertisements point to now (to put back a refused one). */
  async refTargets(ads: Advertisement[]): Promise<Map<string, string>> {
    return refTargets(this.git, ads.map(mirrorTagRef));
  }

  /** Point `ref` back at `target`, or delete it when it did not exist. */
  async restoreRef(ref: string, target: string | undefined): Promise<void> {
    await setRef(this.git, ref, target);
  }

  /** Fetch the operators' tags for these advertisements (one fetch per remote). */
  async fetchTags(remote: string, ads: Advertisement[]): Promise<void> {
    const proto = protocolArgs(this.rt.config.allowedTransports);
    const refspecs = ads.map((ad) => `+refs/tags/${ad.tag}:${mirrorTagRef(ad)}`);
    await fetchRefs(this.git, remote, refspecs, { proto, noFetchHead: true, what: `git fetch from ${redactUrl(remote)}` });
  }

  /**
   * Each archived tag must point at the advertised commit and carry the same advertisement.
   * One `for-each-ref` for the whole group (a git process per tag cost seconds per 500 tags).
   * Returns why each failing advertisement is refused, by its ref.
   */
  async verifyTags(ads: Advertisement[]): Promise<Map<string, string>> {
    const problems = new Map<string, string>();
    if (ads.length === 0) return problems;
    const seen = await readTags(this.git, ads.map(mirrorTagRef));
    for (const ad of ads) {
      const ref = mirrorTagRef(ad);
      const tag = seen.get(ref);
      const where = `${ad.hub}/${ad.date}/${ad.operator}`;
      // The operator's own annotated tag object, pointing straight at the commit.
      if (!tag || tag.peeled !== ad.commit) {
        problems.set(ref, `${where}: the tag points to ${tag?.peeled.slice(0, 12) || 'nothing'}, the registry advertises ${ad.commit.slice(0, 12)}`);
        continue;
      }
      const problem = tagMessageProblem(tag.message, ad);
      if (problem) problems.set(ref, `${where}: ${problem}`);
    }
    return problems;
  }

  /** The git-lfs objects of these (fetched, verified) datasets, into the archive, checked. */
  async fetchLfsObjects(remote: string, ads: Advertisement[]): Promise<number> {
    return archiveLfsObjects(this.git, remote, ads, protocolArgs(this.rt.config.allowedTransports));
  }

  /** Remote archive: push the git-lfs objects (first), then the tags and the state branch. */
  async publish(): Promise<void> {
    if (!this.pushTo) return;
    const proto = protocolArgs(this.rt.config.allowedTransports);
    await pushObjectIds(this.git, this.pushTo, await localObjectIds(this.git), proto, `the archive ${redactUrl(this.pushTo)}`);
    await pushRefs(this.git, this.pushTo, ['+refs/tags/*:refs/tags/*', `${STATE_BRANCH}:${STATE_BRANCH}`], {
      proto,
      what: `git push to the archive ${redactUrl(this.pushTo)}`,
    });
  }
}
