/**
 * Materialise an advertised commit as a detached, sparse checkout of the dataset path. A first
 * retrieve is cloned beside the target and renamed into place only when complete and verified;
 * an existing checkout of the same dataset is updated in place.
 */
import { existsSync, readdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SyncerError, verifyError } from '../../errors.js';
import type { Advertisement } from '../../core/advertisement.js';
import type { Runtime } from '../../runtime.js';
import { protocolArgs, type Git } from '../../adapters/git.js';
import { withLock } from '../../adapters/locks.js';
import { targetAction, type TargetState } from './plan.js';
import { fetchAdvertised } from './fetch.js';
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

async function checkoutAndVerify(git: Git, ad: Advertisement, proto: string[], force: boolean): Promise<void> {
  // git-lfs: refuse without it, else fetch the dataset's LFS objects now (explicit, checked); the checkout reads them locally.
  await (await import('../../adapters/lfs.js')).fetchLfsObjects(git, ad, proto);
  // Non-cone pattern: cone mode would also check out every file at the repository root.
  await git.run(['sparse-checkout', 'set', '--no-cone', `/${ad.path}/`]);
  await git.run([...proto, '-c', 'advice.detachedHead=false', 'checkout', '--quiet', ...(force ? ['--force'] : []), '--detach', ad.commit], {
    network: true, // the dataset's blobs are local by now (fetch.ts); a lazy fetch is still a network step
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
    await fetchAdvertised(git, ad, proto, (m) => rt.out.warn(m));
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
      await fetchAdvertised(git, ad, proto, (m) => rt.out.warn(m));
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
