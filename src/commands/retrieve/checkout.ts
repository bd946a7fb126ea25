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
import { configureNewRepository, initRepository, remoteSettings, setConfig, setRemoteUrl, unsetConfig } from '../../adapters/git-repo.js';
import {
  checkoutDetached,
  checkoutState,
  cleanUntracked,
  detachedHead,
  isWorktreeClean,
  removeStaleGitLocks,
  SPARSE_DIRECTORY_SETTINGS,
  sparseCheckoutDirectory,
  writeSparsePatterns,
  type CheckoutState,
} from '../../adapters/git-worktree.js';
import { leftoverPlan, targetAction, type TargetPresence, type TargetState } from './plan.js';
import { fetchAdvertised, type ContentPolicy } from './fetch.js';
import { contentLimits } from '../../core/dataset-contents.js';
import { makeDirs } from '../../adapters/dirs.js';

/** Set in a checkout's git config for the length of an in-place update, to the commit it goes to. */
const UPDATING = 'syncer.updating';

/** The settings a retrieve reads: its own (syncer.*) and the remote it fetches from. */
const STATE_KEYS = '^(syncer\\.|remote\\.origin\\.url$)';

/** The settings (syncer.*) that say what was retrieved into a checkout. */
function retrievedSettings(ad: Advertisement): [string, string][] {
  const values = { hub: ad.hub, date: ad.date, operator: ad.operator, commit: ad.commit, path: ad.path, syncedat: ad.syncedAt };
  return Object.entries(values).map(([k, v]) => [`syncer.${k}`, v]);
}

/** The target's checkout, read once per run (two git processes), or undefined when it is no repository. */
async function readTarget(rt: Runtime, target: string): Promise<CheckoutState | undefined> {
  if (!existsSync(join(target, '.git'))) return undefined;
  return checkoutState(rt.git(target).git, STATE_KEYS);
}

async function inspectTarget(rt: Runtime, target: string, ad: Advertisement, state: CheckoutState | undefined): Promise<TargetState> {
  if (!existsSync(target)) return { kind: 'absent' };
  let entries: string[];
  try {
    entries = readdirSync(target);
  } catch {
    return { kind: 'foreign' }; // a file, or unreadable
  }
  if (entries.length === 0) return { kind: 'empty-dir' };
  if (!entries.includes('.git') || !state) return { kind: 'foreign' };
  const { config } = state;
  if (config.get('syncer.hub') !== ad.hub || config.get('syncer.operator') !== ad.operator || state.top === undefined) return { kind: 'foreign' };
  if (config.get(UPDATING)) return { kind: 'same-dataset', clean: false, unfinished: true };
  // Local commits count as modifications too: updating would leave them unreachable.
  const clean = (await isWorktreeClean(rt.git(target).git)) && state.head === config.get('syncer.commit');
  return { kind: 'same-dataset', clean };
}

/** A checkout some retrieve finished: its own repository, at the commit retrieved, no update under way. */
function isFinishedCheckout(dir: string, state: CheckoutState | undefined): boolean {
  if (!state?.top || !state.head) return false;
  return resolve(state.top) === resolve(dir) && state.head === state.config.get('syncer.commit') && !state.config.get(UPDATING);
}

/**
 * Clean up what dead retrieves into `target` left beside it. Called with the target's lock held,
 * so no live run owns any of it (each run names its directories after the target). Returns
 * whether it changed the target (a moved-aside directory put back).
 */
function cleanLeftovers(rt: Runtime, target: string, state: CheckoutState | undefined): boolean {
  const parent = dirname(target);
  const name = basename(target);
  const siblings = readdirSync(parent).filter((s) => s.startsWith(`.${name}.syncer-`) && s !== lockName(target));
  if (siblings.length === 0) return false;
  const presence: TargetPresence = !existsSync(target) ? 'absent' : isFinishedCheckout(target, state) ? 'checkout' : 'other';
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
  return plan.restore !== undefined;
}

/**
 * git-lfs objects (when the dataset has any), then the sparse, detached checkout of the advertised
 * commit, verified. `fresh`: a repository cloneInto made, its sparse pattern set with its settings
 * and its git dir at `.git` (HEAD is read from its file).
 */
async function checkoutAndVerify(git: Git, ad: Advertisement, proto: string[], force: boolean, lfs: boolean, fresh = false): Promise<void> {
  // git-lfs: fetch the dataset's LFS objects now (explicit, checked); the checkout reads them locally.
  if (lfs) await (await import('../../adapters/lfs.js')).fetchLfsObjects(git, ad, proto);
  if (!fresh) await sparseCheckoutDirectory(git, ad.path);
  // The dataset's blobs are local by now (fetch.ts); a lazy fetch is still a network step.
  await checkoutDetached(git, ad.commit, { force, proto });
  if (force) await cleanUntracked(git);
  const head = (fresh ? detachedHead(join(git.dir, '.git')) : undefined) ?? (await git.revParse('HEAD'));
  if (head !== ad.commit) throw verifyError(`checked out ${head?.slice(0, 12)} but the registry advertises ${ad.commit.slice(0, 12)}`);
}

/**
 * A first retrieve, into `dir` (beside the target, renamed into place by the caller). Its settings
 * (remote, what is retrieved) go in with the repository: nobody reads them before the rename.
 */
async function cloneInto(rt: Runtime, dir: string, ad: Advertisement, proto: string[], policy: ContentPolicy): Promise<void> {
  await initRepository(rt.git(dirname(dir)).git, dir);
  const { git, done } = rt.git(dir, { progressLabel: 'retrieve' });
  try {
    // The sparse pattern too: nothing is checked out before checkoutAndVerify.
    await configureNewRepository(git, [...remoteSettings('origin', ad.remote), ...retrievedSettings(ad), ...SPARSE_DIRECTORY_SETTINGS]);
    writeSparsePatterns(join(dir, '.git'), ad.path);
    const { lfs } = await fetchAdvertised(git, ad, proto, (m) => rt.out.warn(m), policy, true);
    await checkoutAndVerify(git, ad, proto, false, lfs, true);
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

/** Write the settings that differ from what the checkout holds (`config`, read at the start). */
async function writeSettings(git: Git, settings: [string, string][], config: Map<string, string>): Promise<void> {
  for (const [k, v] of settings) if (config.get(k) !== v) await setConfig(git, k, v);
}

/**
 * Update an existing checkout to `ad`: complete, or undone (the previous checkout as it was), or,
 * when killed, marked (syncer.updating) so that the next retrieve knows the changes in the working
 * tree are its own and completes it (`unfinished`).
 */
async function updateInPlace(
  rt: Runtime,
  git: Git,
  state: CheckoutState,
  ad: Advertisement,
  proto: string[],
  options: MaterializeOptions & { policy: ContentPolicy },
  unfinished: boolean,
): Promise<void> {
  if (unfinished) {
    rt.out.info(`completing an update of ${git.dir} that a retrieve left unfinished (killed, or its undo failed)`);
    if (state.gitDir) removeStaleGitLocks(state.gitDir);
  }
  const previous = retrievedState(state.config);
  // Set before anything changes: from here until it is cleared, the working tree is syncer's to fix.
  await setConfig(git, UPDATING, ad.commit);
  let touched = unfinished; // whether the working tree may differ from `previous`
  try {
    if (state.config.get('remote.origin.url') !== ad.remote) await setRemoteUrl(git, 'origin', ad.remote);
    const { lfs } = await fetchAdvertised(git, ad, proto, (m) => rt.out.warn(m), options.policy);
    touched = true;
    await checkoutAndVerify(git, ad, proto, options.force || unfinished, lfs);
    await writeSettings(git, retrievedSettings(ad), state.config);
  } catch (e) {
    throw await undoUpdate(rt, git.dir, touched ? previous : undefined, e);
  }
  await unsetConfig(git, UPDATING);
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
    await unsetConfig(git, UPDATING);
  } catch (e) {
    if (!(failure instanceof SyncerError)) return failure;
    const reason = e instanceof Error ? e.message : String(e);
    return new SyncerError(failure.kind, `${failure.message}; undoing the update failed too (${reason}): the next retrieve into ${dir} completes it`, {
      hint: failure.hint,
      cause: failure,
    });
  }
  if (!(failure instanceof SyncerError) || !previous || failure.kind === 'INTERRUPTED') return failure;
  return new SyncerError(failure.kind, `${failure.message}; the update was undone and left ${dir} as it was, at ${previous.commit.slice(0, 12)}`, {
    hint: failure.hint,
    cause: failure,
  });
}

/** What the checkout's config says was last retrieved (the state an update undoes to). */
interface Retrieved {
  commit: string;
  date?: string;
  path?: string;
}

function retrievedState(config: Map<string, string>): Retrieved | undefined {
  const commit = config.get('syncer.commit');
  return commit ? { commit, date: config.get('syncer.date'), path: config.get('syncer.path') } : undefined;
}

/** Working tree, index, sparse pattern and syncer.* config back at what was last retrieved. */
async function restoreRetrieved(git: Git, r: Retrieved): Promise<void> {
  // What the failed checkout wrote is untracked while its index was never written: remove it.
  await cleanUntracked(git);
  if (r.path) await sparseCheckoutDirectory(git, r.path);
  await checkoutDetached(git, r.commit, { force: true });
  await cleanUntracked(git);
  // The failed update may have written some of its own before failing.
  for (const [k, v] of Object.entries(r)) if (v !== undefined) await setConfig(git, `syncer.${k}`, v);
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
function refuseRollback(dir: string, config: Map<string, string>, ad: Advertisement, allowOlder: boolean): void {
  const [date, syncedAt] = [config.get('syncer.date'), config.get('syncer.syncedat')];
  if (allowOlder || date !== ad.date || !syncedAt || !(Date.parse(ad.syncedAt) < Date.parse(syncedAt))) return;
  throw verifyError(
    `refusing to take ${dir} back in time: it holds ${ad.hub}/${ad.date} from ${ad.operator} synced at ${syncedAt}, ` +
      `and the registry now offers an older one (synced at ${ad.syncedAt}): a replayed advertisement?`,
    `check with ${ad.operator}; retrieve --allow-older takes it anyway`,
  );
}

/** The lock file beside the target that one retrieve into it holds. */
const lockName = (target: string) => `.${basename(target)}.syncer-lock`;

/** Retrieve `ad` into `target`, one retrieve per target at a time. Returns whether it updated in place. */
export async function materialize(rt: Runtime, ad: Advertisement, target: string, options: MaterializeOptions): Promise<{ updated: boolean }> {
  const parent = dirname(target);
  const createdFrom = makeDirs(parent); // first directory created, if any
  const lockIo = { info: (m: string) => rt.out.info(m), warn: (m: string) => rt.out.warn(m), signal: rt.deps.signal };
  const policy = options.policy ?? { allowSymlinks: false, limits: contentLimits(rt.config) };
  try {
    return await withLock(join(parent, lockName(target)), `retrieve into ${target}`, lockIo, () => materializeLocked(rt, ad, target, { ...options, policy }));
  } finally {
    if (!existsSync(target) && createdFrom) removeEmptyDirs(parent, createdFrom);
  }
}

async function materializeLocked(
  rt: Runtime,
  ad: Advertisement,
  target: string,
  options: MaterializeOptions & { policy: ContentPolicy },
): Promise<{ updated: boolean }> {
  const proto = protocolArgs(rt.config.allowedTransports);
  let state = await readTarget(rt, target);
  if (cleanLeftovers(rt, target, state)) state = await readTarget(rt, target);
  const targetState = await inspectTarget(rt, target, ad, state);
  const decision = targetAction(targetState, options.force);
  if ('refuse' in decision) throw new SyncerError('USAGE', `refusing to retrieve into ${target}: it ${decision.refuse}`, { hint: decision.hint });

  if (decision.action === 'update' || decision.action === 'complete') {
    const { git, done } = rt.git(target, { progressLabel: 'retrieve' });
    try {
      refuseRollback(git.dir, state!.config, ad, !!options.allowOlder);
      await updateInPlace(rt, git, state!, ad, proto, options, decision.action === 'complete');
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
    if (decision.action === 'replace' || targetState.kind === 'empty-dir') {
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
