/**
 * The writing half of sync, in the order that keeps every promise: commit (only the dataset path),
 * tag, push branch and tag atomically, and only then advertise. A failed push advertises nothing
 * and keeps the commit; a failed advertisement says the data is pushed and a rerun completes it.
 */
import { writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { hasKind, SyncerError, usageError } from '../../errors.js';
import { serializeAdvertisement } from '../../core/advertisement.js';
import { tagName } from '../../core/keys.js';
import { advertisementSigningText, signText } from '../../core/signing.js';
import type { Git } from '../../adapters/git.js';
import { annotatedTag, commitPaths } from '../../adapters/git-history.js';
import { pushRefs } from '../../adapters/git-remote.js';
import type { Registry } from '../../adapters/registry.js';
import type { Runtime } from '../../runtime.js';
import { buildAdvertisement, OPERATOR_FILE, type SyncPlan, type SyncResult } from './plan.js';
import { ownEntry } from './own-entry.js';
import { makeDirs } from '../../adapters/dirs.js';
import { pushLfsObjects, storeLargeFiles } from '../../adapters/lfs.js';
import { committedSize } from './size.js';

async function commitDataset(git: Git, plan: SyncPlan): Promise<boolean> {
  const { operatorFile } = plan;
  if (operatorFile.stale) {
    makeDirs(dirname(operatorFile.path));
    writeFileSync(operatorFile.path, operatorFile.text);
  }
  // `path/` (trailing slash): a dataset that was a symbolic link and is now a directory commits the
  // type change (with `path` git refuses: "'path' does not have a commit checked out").
  const pathspec = [`${plan.path}/`, OPERATOR_FILE];
  // The listing asked git status of the operator file too; a file just rewritten is asked again.
  const operatorChanged = async () => (operatorFile.stale ? (await git.changedPaths([OPERATOR_FILE])).length > 0 : plan.listing.alsoChanged.length > 0);
  if (plan.changed.length === 0 && !(await operatorChanged())) return false;
  await commitPaths(git, pathspec, plan.message, 'syncer sync');
  return true;
}

async function push(rt: Runtime, git: Git, plan: SyncPlan, tag: string, committed: boolean): Promise<void> {
  const remote = rt.config.remote;
  try {
    const refspecs = [`refs/heads/${plan.branch}:refs/heads/${plan.branch}`, `+refs/tags/${tag}:refs/tags/${tag}`];
    await pushRefs(git, remote, refspecs, { atomic: true, what: `git push to ${remote}` });
  } catch (e) {
    if (!hasKind(e, 'REMOTE')) throw e;
    // "[rejected] (fetch first | non-fast-forward)" is fixed by pulling; "[remote rejected]" (a hook) is not.
    const nonFF = /non-fast-forward|fetch first|(?<!remote )\[rejected\]/.test(String((e.cause as Error)?.message ?? e.message));
    throw new SyncerError('REMOTE', `${e.message}${committed ? ' (your commit is kept locally)' : ''}; nothing was advertised`, {
      hint: nonFF
        ? `the remote has commits you do not: git -C ${plan.top} pull --rebase ${remote} ${plan.branch}, then run syncer sync again`
        : (e.hint ?? 'fix the remote, then run syncer sync again: it pushes and advertises without a new commit'),
      cause: e,
    });
  }
}

export async function publish(rt: Runtime, git: Git, registry: Registry, plan: SyncPlan, runId: string): Promise<SyncResult> {
  const { hub, date, operator, path, remote } = plan;
  // The operator record (our public key) goes first: readers need it to verify what follows.
  const { record, registryWrite, registryRevision } = plan.operatorFile;
  if (registryWrite && !(await registry.putOperator(record, registryRevision))) {
    throw new SyncerError('REGISTRY', `the operator record of ${operator} changed while this sync ran; nothing was committed`, {
      hint: 'run syncer sync again',
    });
  }
  // Files over the LFS threshold go through git-lfs (listed in <path>/.gitattributes, committed
  // with the dataset); without git-lfs that is exit 4 before anything is committed.
  const lfs = await storeLargeFiles(rt, git, plan.top, path, plan.listing);
  if (lfs.attributesFile && !plan.changed.includes(lfs.attributesFile)) plan.changed.push(lfs.attributesFile);
  if (lfs.added.length) rt.out.info(`stored with git-lfs (over lfsThresholdMiB): ${lfs.added.join(', ')}`);
  const committed = await commitDataset(git, plan);
  const commit = (await git.revParse('HEAD'))!;
  const size = await committedSize(git, plan.gitDir, commit, path);
  if (size.files === 0) throw usageError(`${path}/ has no committed files`, 'add data to the dataset directory first');

  const { files, bytes } = size;
  const { branch, message } = plan;
  const unsigned = buildAdvertisement({ hub, date, operator, remote, branch, commit, path, files, bytes, message, now: rt.now(), runId, meta: plan.meta });
  const ad = { ...unsigned, signature: signText(advertisementSigningText(unsigned), plan.pair.privateKeyPem) };
  const tag = tagName(hub, date);
  await annotatedTag(git, tag, commit, serializeAdvertisement(ad));
  // LFS objects first: a remote that cannot take them gets neither branch nor tag (exit 4).
  await pushLfsObjects(git, rt.config.remote, commit, path, size.usesLfs);
  await push(rt, git, plan, tag, committed);

  try {
    const advertised = await registry.advertise(ad, ownEntry(rt, operator, plan.operatorFile.record));
    return { hub, date, operator, commit, tag, remote, path, files, bytes, committed, advertised };
  } catch (e) {
    if (!hasKind(e, 'REGISTRY')) throw e;
    throw new SyncerError('REGISTRY', `pushed ${commit.slice(0, 12)} but could not advertise it: ${e.message}`, {
      hint: `run syncer sync --hub ${hub} again once etcd is reachable: it advertises without committing again`,
      cause: e,
    });
  }
}
