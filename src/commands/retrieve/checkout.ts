/**
 * Materialise an advertised commit as a detached, sparse checkout of the dataset path. A first
 * retrieve is cloned beside the target and renamed into place only when complete and verified;
 * an existing checkout of the same dataset is updated in place, under a marker in its git config
 * (syncer.updating) so that an update that fails is undone, and one that was killed is recognised
 * and completed by the next retrieve. What a killed run left beside the target is cleaned up by
 * the next run that takes the target's lock.
 */
import { existsSync, readdirSync, renameSync, rmdirSync, rmSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { SyncerError, verifyError } from '../../errors.js';
import type { Advertisement } from '../../core/advertisement.js';
import type { Runtime } from '../../runtime.js';
import { Git, protocolArgs } from '../../adapters/git.js';
import { withLock } from '../../adapters/locks.js';
import { leftoverPlan, targetAction, type TargetPresence, type TargetState } from './plan.js';
import { fetchAdvertised, type ContentPolicy } from './fetch.js';
import { contentLimits } from '../../core/dataset-contents.js';
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
  if (await git.configGet(UPDATING)) return { kind: 'same-dataset', clean: false, unfinished: true };
  // Only looks: no index refresh, so it works on a full or read-only file system too.
  const status = await git.run(['--no-optional-locks', 'status', '--porcelain', '--untracked-files=all']);
  // Local commits count as modifications too: updating would leave them unreachable.
  const [head, retrieved] = await Promise.all([git.revParse('HEAD'), git.configGet('syncer.commit')]);
  return { kind: 'same-dataset', clean: status.trim() === '' && head === retrieved };
}

/** Set in a checkout's git config for the length of an in-place update, to the commit it goes to. */
const UPDATING = 'syncer.updating';

/** A checkout some retrieve finished: its own repository, at the commit retrieved, no update under way. */
async function isFinishedCheckout(rt: Runtime, dir: string): Promise<boolean> {
  if (!existsSync(join(dir, '.git'))) return false;
  const { git } = rt.git(dir);
  const [top, head, retrieved, updating] = await Promise.all([git.topLevel(), git.revParse('HEAD'), git.configGet('syncer.commit'), git.configGet(UPDATING)]);
  return top !== undefined && resolve(top) === resolve(dir) && head !== undefined && head === retrieved && !updating;
}

/**
 * Clean up what dead retrieves into `target` left beside it. Called with the target's lock held,
 * so no live run owns any of it (each run names its directories after the target).
 */
async function cleanLeftovers(rt: Runtime, target: string): Promise<void> {
  const parent = dirname(target);
  const name = basename(target);
  const siblings = readdirSync(parent).filter((s) => s.startsWith(`.${name}.syncer-`));
  if (siblings.length === 0) return;
  const presence: TargetPresence = !existsSync(target) ? 'absent' : (await isFinishedCheckout(rt, target)) ? 'checkout' : 'other';
  const plan = leftoverPlan(name, siblings, presence);
  if (plan.restore) {
    renameSync(join(parent, plan.restore), target);
    rt.out.info(`put back ${target}: it was moved aside by a retrieve that did not finish (${plan.restore})`);
  }
  for (const s of plan.remove) {
    rmSync(join(parent, s), { recursive: true, force: true });
    rt.out.info(`removed ${join(parent, s)} left by a retrieve that did not finish`);
  }
  for (const s of plan.keep) {
    rt.out.warn(`${join(parent, s)} holds what was at ${target} before a retrieve that did not finish; kept (move what you need from it, then remove it)`);
  }
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
  for (const [k, v] of Object.entries({ hub: ad.hub, date: ad.date, operator: ad.operator, commit: ad.commit, path: ad.path, syncedat: ad.syncedAt })) {
    await git.run(['config', `syncer.${k}`, v]);
  }
}

async function cloneInto(rt: Runtime, dir: string, ad: Advertisement, proto: string[], policy: ContentPolicy): Promise<void> {
  const parent = rt.git(dirname(dir));
  await parent.git.run(['init', '--quiet', '--', dir]);
  const { git, done } = rt.git(dir, { progressLabel: 'retrieve' });
  try {
    await git.run(['remote', 'add', 'origin', ad.remote]);
    await fetchAdvertised(git, ad, proto, (m) => rt.out.warn(m), policy);
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

/**
 * Update an existing checkout to `ad`: complete, or undone (the previous checkout as it was), or,
 * when killed, marked (syncer.updating) so that the next retrieve knows the changes in the working
 * tree are its own and completes it (`unfinished`).
 */
async function updateInPlace(rt: Runtime, git: Git, ad: Advertisement, proto: string[], options: MaterializeOptions & { policy: ContentPolicy }, unfinished: boolean): Promise<void> {
  const force = options.force;
  if (unfinished) {
    rt.out.info(`completing an update of ${git.dir} that a retrieve left unfinished (killed, or its undo failed)`);
    await removeStaleGitLocks(git);
  }
  const previous = await retrievedState(git);
  // Set before anything changes: from here until it is cleared, the working tree is syncer's to fix.
  await git.run(['config', UPDATING, ad.commit]);
  let touched = unfinished; // whether the working tree may differ from `previous`
  try {
    await git.run(['remote', 'set-url', 'origin', ad.remote]);
    await fetchAdvertised(git, ad, proto, (m) => rt.out.warn(m), options.policy);
    touched = true;
    await checkoutAndVerify(git, ad, proto, force || unfinished);
  } catch (e) {
    throw await undoUpdate(rt, git.dir, touched ? previous : undefined, e);
  }
  await git.run(['config', '--unset', UPDATING]);
}

/**
 * After a failed update, put the checkout back at `previous`, the commit last retrieved (files the
 * failed checkout wrote are removed first: on a full disk that frees the space the undo needs);
 * without `previous` the working tree was never touched. Runs even after Ctrl-C (local, quick),
 * so an interrupted update is undone too. Returns the error to throw, saying the checkout's state.
 */
async function undoUpdate(rt: Runtime, dir: string, previous: Retrieved | undefined, failure: unknown): Promise<unknown> {
  // Not the runtime's git: after Ctrl-C its signal is aborted and would cancel the undo too.
  const git = new Git(dir, { env: rt.deps.env, stallTimeoutMs: rt.config.gitStallTimeoutSeconds * 1000 });
  try {
    if (previous) await restoreRetrieved(git, previous);
    await git.run(['config', '--unset', UPDATING]);
  } catch (e) {
    if (!(failure instanceof SyncerError)) return failure;
    const reason = e instanceof Error ? e.message : String(e);
    return new SyncerError(failure.kind, `${failure.message}; undoing the update failed too (${reason}): the next retrieve into ${dir} completes it`, { hint: failure.hint, cause: failure });
  }
  if (!(failure instanceof SyncerError) || !previous || failure.kind === 'INTERRUPTED') return failure;
  return new SyncerError(failure.kind, `${failure.message}; the update was undone and left ${dir} as it was, at ${previous.commit.slice(0, 12)}`, { hint: failure.hint, cause: failure });
}

/** What the checkout's config says was last retrieved (the state an update undoes to). */
interface Retrieved {
  commit: string;
  date?: string;
  path?: string;
}

async function retrievedState(git: Git): Promise<Retrieved | undefined> {
  const [commit, date, path] = await Promise.all(['commit', 'date', 'path'].map((k) => git.configGet(`syncer.${k}`)));
  return commit ? { commit, date, path } : undefined;
}

/** Working tree, index, sparse pattern and syncer.* config back at what was last retrieved. */
async function restoreRetrieved(git: Git, r: Retrieved): Promise<void> {
  // What the failed checkout wrote is untracked while its index was never written: remove it.
  await git.run(['clean', '-ffdq']);
  if (r.path) await git.run(['sparse-checkout', 'set', '--no-cone', `/${r.path}/`]);
  await git.run(['-c', 'advice.detachedHead=false', 'checkout', '--quiet', '--force', '--detach', r.commit]);
  await git.run(['clean', '-ffdq']);
  // The failed update may have written some of its own before failing.
  for (const [k, v] of Object.entries(r)) if (v !== undefined) await git.run(['config', `syncer.${k}`, v]);
}

/**
 * Lock files a killed git left in the checkout's repository (index.lock, shallow.lock, ...); each
 * would make the next git command there fail. Only called when syncer's own update died there
 * and the target's lock is held: no live git of ours runs in it.
 */
async function removeStaleGitLocks(git: Git): Promise<void> {
  const gitDir = resolve(git.dir, (await git.run(['rev-parse', '--git-dir'])).trim());
  const locks = readdirSync(gitDir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.lock') && !f.startsWith('objects/'));
  for (const f of locks) rmSync(join(gitDir, f), { force: true });
}

export interface MaterializeOptions {
  /** Replace local modifications (retrieve --force). */
  force: boolean;
  /** What the dataset may contain (retrieve --allow-symlinks, the size limits); the defaults without. */
  policy?: ContentPolicy;
  /** Update a checkout to an older advertisement of the same hub/date/operator (retrieve --allow-older). */
  allowOlder?: boolean;
}

/**
 * Readers never go back in time for an entry they have seen: an existing checkout of the same
 * hub/date/operator synced later than `ad` is not rolled back to it (an operator's older, genuinely
 * signed advertisement replayed with a remote holding the old tag), unless asked to.
 */
async function refuseRollback(git: Git, ad: Advertisement, allowOlder: boolean): Promise<void> {
  const [date, syncedAt] = await Promise.all([git.configGet('syncer.date'), git.configGet('syncer.syncedat')]);
  if (allowOlder || date !== ad.date || !syncedAt || !(Date.parse(ad.syncedAt) < Date.parse(syncedAt))) return;
  throw verifyError(
    `refusing to take ${git.dir} back in time: it holds ${ad.hub}/${ad.date} from ${ad.operator} synced at ${syncedAt}, and the registry now offers an older one (synced at ${ad.syncedAt}): a replayed advertisement?`,
    `check with ${ad.operator}; retrieve --allow-older takes it anyway`,
  );
}

/** Retrieve `ad` into `target`, one retrieve per target at a time. Returns whether it updated in place. */
export async function materialize(rt: Runtime, ad: Advertisement, target: string, options: MaterializeOptions): Promise<{ updated: boolean }> {
  const parent = dirname(target);
  const createdFrom = makeDirs(parent); // first directory created, if any
  const lockIo = { info: (m: string) => rt.out.info(m), warn: (m: string) => rt.out.warn(m), signal: rt.deps.signal };
  const policy = options.policy ?? { allowSymlinks: false, limits: contentLimits(rt.config) };
  try {
    return await withLock(join(parent, `.${basename(target)}.syncer-lock`), `retrieve into ${target}`, lockIo, () => materializeLocked(rt, ad, target, { ...options, policy }));
  } finally {
    if (!existsSync(target) && createdFrom) removeEmptyDirs(parent, createdFrom);
  }
}

async function materializeLocked(rt: Runtime, ad: Advertisement, target: string, options: MaterializeOptions & { policy: ContentPolicy }): Promise<{ updated: boolean }> {
  const proto = protocolArgs(rt.config.allowedTransports);
  await cleanLeftovers(rt, target);
  const state = await inspectTarget(rt, target, ad);
  const decision = targetAction(state, options.force);
  if ('refuse' in decision) throw new SyncerError('USAGE', `refusing to retrieve into ${target}: it ${decision.refuse}`, { hint: decision.hint });

  if (decision.action === 'update' || decision.action === 'complete') {
    const { git, done } = rt.git(target, { progressLabel: 'retrieve' });
    try {
      await refuseRollback(git, ad, !!options.allowOlder);
      await updateInPlace(rt, git, ad, proto, options, decision.action === 'complete');
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
    await cloneInto(rt, tmp, ad, proto, options.policy);
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
