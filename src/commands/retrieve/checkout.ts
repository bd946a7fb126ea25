/**
 * Materialise an advertised commit as a detached, sparse checkout of the dataset path. A first
 * retrieve is cloned beside the target and renamed into place only when complete and verified;
 * an existing checkout of the same dataset is updated in place.
 */
import { existsSync, readdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SyncerError, verifyError } from '../../errors.js';
import { tagMessageProblem, type Advertisement } from '../../core/advertisement.js';
import { redactUrl } from '../../core/remote-url.js';
import type { Runtime } from '../../runtime.js';
import { protocolArgs, type Git } from '../../adapters/git.js';
import { withLock } from '../../adapters/locks.js';
import { targetAction, type TargetState } from './plan.js';
import { makeDirs } from '../../adapters/dirs.js';

async function inspectTarget(rt: Runtime, target: string, ad: Advertisement): Promise<TargetState> {
  if (!existsSync(target)) return { kind: 'absent' };
  let entries: string[];
  try {
    entries = readdirSync(target);
  } catch {
    return { kind: 'foreign' }; // a file, or unreadable
  }
  if (entries.length === 0) return { kind: 'empty-dir' };
  if (!entries.includes('.git')) return { kind: 'foreign' };
  const { git } = rt.git(target);
  const [hub, operator, top] = await Promise.all([git.configGet('syncer.hub'), git.configGet('syncer.operator'), git.topLevel()]);
  if (hub !== ad.hub || operator !== ad.operator || top === undefined) return { kind: 'foreign' };
  const status = await git.run(['status', '--porcelain', '--untracked-files=all']);
  // Local commits count as modifications too: updating would leave them unreachable.
  const [head, retrieved] = await Promise.all([git.revParse('HEAD'), git.configGet('syncer.commit')]);
  return { kind: 'same-dataset', clean: status.trim() === '' && head === retrieved };
}

/**
 * Fetch the advertised tag (commits and trees only) and check it against the registry: the tag must
 * point at the advertised commit and carry the same advertisement (all but the remote).
 */
async function fetchCommit(git: Git, ad: Advertisement, proto: string[]): Promise<void> {
  const tagRef = `refs/tags/${ad.tag}`;
  const fetch = (source: string) =>
    git.run([...proto, 'fetch', '--quiet', '--no-tags', '--filter=blob:none', '--depth=1', 'origin', `+${source}:${tagRef}`], {
      network: true,
      what: `git fetch of ${ad.tag} from ${ad.remote}`,
    });
  try {
    await fetch(tagRef);
  } catch (e) {
    // An archive made by `syncer mirror` keeps each operator's tag under refs/tags/<operator>/<hub>/<date>.
    if (!(e instanceof SyncerError && /couldn't find remote ref/i.test(e.message))) throw e;
    await fetch(`refs/tags/${ad.operator}/${ad.hub}/${ad.date}`).catch((e2: unknown) => {
      if (!(e2 instanceof SyncerError && /couldn't find remote ref/i.test(e2.message))) throw e2;
      // The remote answered, and holds nothing that backs the advertisement.
      throw verifyError(
        `the remote ${redactUrl(ad.remote)} has no tag ${ad.tag}: the registry advertises a commit its operator's remote does not back`,
        'ask the operator to sync again (it pushes the tag before advertising); until then this entry cannot be retrieved',
      );
    });
  }
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

async function checkoutAndVerify(git: Git, ad: Advertisement, proto: string[], force: boolean): Promise<void> {
  // git-lfs: refuse without it, else fetch the dataset's LFS objects now (explicit, checked); the checkout reads them locally.
  await (await import('../../adapters/lfs.js')).fetchLfsObjects(git, ad, proto);
  // Non-cone pattern: cone mode would also check out every file at the repository root.
  await git.run(['sparse-checkout', 'set', '--no-cone', `/${ad.path}/`]);
  await git.run([...proto, '-c', 'advice.detachedHead=false', 'checkout', '--quiet', ...(force ? ['--force'] : []), '--detach', ad.commit], {
    network: true, // blobs of the dataset path are fetched lazily from the promisor remote here
    what: 'git checkout',
  });
  if (force) await git.run(['clean', '-ffdq']);
  const head = await git.revParse('HEAD');
  if (head !== ad.commit) throw verifyError(`checked out ${head?.slice(0, 12)} but the registry advertises ${ad.commit.slice(0, 12)}`);
  for (const [k, v] of Object.entries({ hub: ad.hub, date: ad.date, operator: ad.operator, commit: ad.commit, path: ad.path })) {
    await git.run(['config', `syncer.${k}`, v]);
  }
}

async function cloneInto(rt: Runtime, dir: string, ad: Advertisement, proto: string[]): Promise<void> {
  const parent = rt.git(dirname(dir));
  await parent.git.run(['init', '--quiet', '--', dir]);
  const { git, done } = rt.git(dir, { progressLabel: 'retrieve' });
  try {
    await git.run(['remote', 'add', 'origin', ad.remote]);
    await fetchCommit(git, ad, proto);
    await checkoutAndVerify(git, ad, proto, false);
  } finally {
    done();
  }
}

/** After a failed first retrieve, remove the (empty) directories it created, up to `top`. */
function removeEmptyDirs(dir: string, top: string): void {
  for (let d = dir; d.startsWith(top); d = dirname(d)) {
    try {
      rmdirSync(d);
    } catch {
      return;
    }
  }
}

/** Retrieve `ad` into `target`, one retrieve per target at a time. Returns whether it updated in place. */
export async function materialize(rt: Runtime, ad: Advertisement, target: string, force: boolean): Promise<{ updated: boolean }> {
  const parent = dirname(target);
  const createdFrom = makeDirs(parent); // first directory created, if any
  const lockIo = { info: (m: string) => rt.out.info(m), warn: (m: string) => rt.out.warn(m), signal: rt.deps.signal };
  try {
    return await withLock(join(parent, `.${basename(target)}.syncer-lock`), `retrieve into ${target}`, lockIo, () => materializeLocked(rt, ad, target, force));
  } finally {
    if (!existsSync(target) && createdFrom) removeEmptyDirs(parent, createdFrom);
  }
}

async function materializeLocked(rt: Runtime, ad: Advertisement, target: string, force: boolean): Promise<{ updated: boolean }> {
  const proto = protocolArgs(rt.config.allowedTransports);
  const state = await inspectTarget(rt, target, ad);
  const decision = targetAction(state, force);
  if ('refuse' in decision) throw new SyncerError('USAGE', `refusing to retrieve into ${target}: it ${decision.refuse}`, { hint: decision.hint });

  if (decision.action === 'update') {
    const { git, done } = rt.git(target, { progressLabel: 'retrieve' });
    try {
      await git.run(['remote', 'set-url', 'origin', ad.remote]);
      await fetchCommit(git, ad, proto);
      await checkoutAndVerify(git, ad, proto, force);
    } finally {
      done();
    }
    return { updated: true };
  }

  // Clone beside the target and rename into place: the target appears only when complete.
  const parent = dirname(target);
  const tmp = join(parent, `.${basename(target)}.syncer-tmp-${randomBytes(4).toString('hex')}`);
  const old = join(parent, `.${basename(target)}.syncer-old-${randomBytes(4).toString('hex')}`);
  let movedAside = false;
  try {
    await cloneInto(rt, tmp, ad, proto);
    if (decision.action === 'replace' || state.kind === 'empty-dir') {
      renameSync(target, old);
      movedAside = true;
    }
    renameSync(tmp, target);
    movedAside = false;
  } finally {
    // Whatever happened, never lose what was at the target: put it back if the swap failed.
    if (movedAside) renameSync(old, target);
    rmSync(tmp, { recursive: true, force: true });
    rmSync(old, { recursive: true, force: true });
  }
  return { updated: false };
}
