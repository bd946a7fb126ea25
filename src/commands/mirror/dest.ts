/**
 * The archive a mirror writes to: a git repository (a local path, created if missing, or a remote
 * URL worked on through a local cache and pushed at the end). Datasets are the operators' own
 * annotated tag objects under refs/tags/<operator>/<hub>/<date>; the mirror's state is a commit on
 * the branch `syncer-mirror` (file state.json).
 */
import { createHash } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SyncerError } from '../../errors.js';
import { tagMessageProblem, type Advertisement } from '../../core/advertisement.js';
import { checkRemoteUrl, isRemoteUrlLike, redactUrl } from '../../core/remote-url.js';
import { protocolArgs, type Git } from '../../adapters/git.js';
import type { Runtime } from '../../runtime.js';
import { emptyState, type MirrorState } from './plan.js';
import { makeDirs } from '../../adapters/dirs.js';
import { archiveLfsObjects, localObjectIds, pushObjectIds } from '../../adapters/lfs.js';

export const STATE_BRANCH = 'refs/heads/syncer-mirror';
export const mirrorTagRef = (ad: { operator: string; hub: string; date: string }) => `refs/tags/${ad.operator}/${ad.hub}/${ad.date}`;

/** Is `path` itself a repository (bare, or the top of a working tree), not inside another one? */
export async function isRepositoryRoot(git: Git, path: string): Promise<boolean> {
  const gitDir = (await git.tryRun(['rev-parse', '--absolute-git-dir']))?.trim();
  if (!gitDir) return false;
  const real = realpathSync(path);
  return gitDir === real || gitDir === join(real, '.git');
}

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
      const cache = join(rt.paths.dataDir, 'mirror-cache', createHash('sha256').update(dest).digest('hex').slice(0, 16) + '.git');
      makeDirs(cache);
      const { git } = rt.git(cache);
      if (!(await git.tryRun(['rev-parse', '--git-dir']))) await git.run(['init', '--quiet', '--bare']);
      // Bring the cache up to date with the archive (an empty archive has nothing to fetch).
      const heads = await git.run([...proto, 'ls-remote', '--', dest], { network: true, what: `git ls-remote ${redactUrl(dest)}` });
      if (heads.trim()) {
        await git.run([...proto, 'fetch', '--quiet', '--no-tags', '--', dest, '+refs/tags/*:refs/tags/*', ...(heads.includes(STATE_BRANCH) ? [`+${STATE_BRANCH}:${STATE_BRANCH}`] : [])], {
          network: true,
          what: `git fetch from the archive ${redactUrl(dest)}`,
        });
      }
      return new MirrorDest(rt, git, dest, dest);
    }
    const path = resolve(rt.deps.cwd, dest);
    if (!existsSync(path)) makeDirs(path);
    const { git } = rt.git(path);
    // Only a repository rooted at DEST: a directory inside someone's working tree gets its own.
    if (!(await isRepositoryRoot(git, path))) await git.run(['init', '--quiet', '--bare']);
    return new MirrorDest(rt, git, `file://${path}`);
  }

  async readState(): Promise<{ state: MirrorState; head?: string }> {
    const head = (await this.git.tryRun(['rev-parse', '--verify', '--quiet', STATE_BRANCH]))?.trim();
    if (!head) return { state: emptyState() };
    const text = await this.git.run(['show', `${head}:state.json`]);
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
    const blob = (await this.git.run(['hash-object', '-w', '--stdin'], { input: JSON.stringify(state, null, 1) + '\n' })).trim();
    const tree = (await this.git.run(['mktree'], { input: `100644 blob ${blob}\tstate.json\n` })).trim();
    const commit = (
      await this.git.run(['-c', 'user.name=syncer mirror', '-c', 'user.email=syncer@localhost', 'commit-tree', tree, ...(previousHead ? ['-p', previousHead] : []), '-m', message])
    ).trim();
    await this.git.run(['update-ref', STATE_BRANCH, commit, previousHead ?? '0'.repeat(40)]);
  }

  /** What the archive's refs for these advertisements point to now (to put back a refused one). */
  async refTargets(ads: Advertisement[]): Promise<Map<string, string>> {
    if (ads.length === 0) return new Map();
    const out = await this.git.run(['for-each-ref', '--format=%(refname) %(objectname)', '--', ...ads.map(mirrorTagRef)]);
    return new Map(out.split('\n').flatMap((l) => (/^(\S+) ([0-9a-f]+)$/.exec(l) ? [[l.split(' ')[0]!, l.split(' ')[1]!] as [string, string]] : [])));
  }

  /** Point `ref` back at `target`, or delete it when it did not exist. */
  async restoreRef(ref: string, target: string | undefined): Promise<void> {
    await this.git.run(target ? ['update-ref', ref, target] : ['update-ref', '-d', ref]);
  }

  /** Fetch the operators' tags for these advertisements (one fetch per remote). */
  async fetchTags(remote: string, ads: Advertisement[]): Promise<void> {
    const proto = protocolArgs(this.rt.config.allowedTransports);
    const refspecs = ads.map((ad) => `+refs/tags/${ad.tag}:${mirrorTagRef(ad)}`);
    await this.git.run([...proto, 'fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--', remote, ...refspecs], {
      network: true,
      what: `git fetch from ${redactUrl(remote)}`,
    });
  }

  /**
   * Each archived tag must point at the advertised commit and carry the same advertisement.
   * One `for-each-ref` for the whole group (a git process per tag cost seconds per 500 tags).
   * Returns why each failing advertisement is refused, by its ref.
   */
  async verifyTags(ads: Advertisement[]): Promise<Map<string, string>> {
    const problems = new Map<string, string>();
    if (ads.length === 0) return problems;
    const out = await this.git.run(['for-each-ref', '--format=%(refname)%00%(*objectname)%00%(contents)%00%00', '--', ...ads.map(mirrorTagRef)]);
    const seen = new Map<string, { target: string; message: string }>();
    for (const record of out.split('\0\0')) {
      const [ref, target, message] = record.replace(/^\n/, '').split('\0') as [string, string | undefined, string | undefined];
      if (ref && target !== undefined && message !== undefined) seen.set(ref, { target, message });
    }
    for (const ad of ads) {
      const ref = mirrorTagRef(ad);
      const tag = seen.get(ref);
      const where = `${ad.hub}/${ad.date}/${ad.operator}`;
      if (!tag || tag.target !== ad.commit) {
        problems.set(ref, `${where}: the tag points to ${tag?.target.slice(0, 12) || 'nothing'}, the registry advertises ${ad.commit.slice(0, 12)}`);
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
    await this.git.run([...proto, 'push', '--quiet', '--', this.pushTo, '+refs/tags/*:refs/tags/*', `${STATE_BRANCH}:${STATE_BRANCH}`], {
      network: true,
      what: `git push to the archive ${redactUrl(this.pushTo)}`,
    });
  }
}
