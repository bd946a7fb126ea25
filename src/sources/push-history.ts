/**
 * What changed in a source's data file since the last push, read from git: commit by commit along
 * the first-parent history, each version compared with the one before (both sorted by id), the
 * changed lines folded into "hub id -> changed last by the destination itself" (CommitFold, core/records.ts).
 */
import { closeSync, openSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { SyncerError, usageError } from '../errors.js';
import type { Git } from '../adapters/git.js';
import { firstParentLog, writeFileAt } from '../adapters/git-objects.js';
import { isPointerFile, LFS_INSTALL_HINT } from '../adapters/lfs.js';
import { throwIfAborted } from './core/connector.js';
import { CommitFold, pulledBy } from './core/records.js';
import { readStored, StoreError, type StoredFormat, type StoredRecord } from './core/store.js';

/** Where the history is read: the repository, and the file of one source. */
export interface HistoryFile {
  git: Git;
  top: string;
  env: NodeJS.ProcessEnv;
  signal: AbortSignal;
  /** The data file, relative to the repository, and how it is stored. */
  rel: string;
  format: StoredFormat;
  /** The source: a commit that pulled from it is the destination's own change. */
  name: string;
  /** Scratch directory for the versions compared. */
  work: string;
}

/**
 * The records changed between `from` (undefined: the beginning) and `head`: hub id -> "changed
 * last by a pull from this very source" (such a change is not sent back to it).
 */
export async function changesSince(h: HistoryFile, from: string | undefined, head: string): Promise<Map<string, boolean>> {
  const log = await firstParentLog(h.git, from, head, h.rel);
  const pending = new Map<string, boolean>();
  let prevPath: string | undefined;
  if (from) {
    prevPath = join(h.work, 'from');
    if (!(await extract(h, from, prevPath))) prevPath = undefined;
  }
  let i = 0;
  try {
    for (const { commit, subject } of log) {
      throwIfAborted(h.signal);
      const cur = join(h.work, `v${i++ % 2}`);
      const exists = await extract(h, commit, cur);
      await compareVersions(prevPath, exists ? cur : undefined, h.format, new CommitFold(pending, pulledBy(subject) === h.name));
      prevPath = exists ? cur : undefined;
      if (exists) {
        const keep = join(h.work, 'prev');
        renameSync(cur, keep);
        prevPath = keep;
      }
    }
  } catch (e) {
    if (e instanceof StoreError) throw usageError(`${h.rel} at some commit: ${e.message}`);
    throw e;
  }
  return pending;
}

/** `git cat-file blob <commit>:<path>` into a file; false when the commit has no such file. */
async function extract(h: HistoryFile, commit: string, target: string): Promise<boolean> {
  const found = await catFile(h, 'blob', commit, target);
  // A version stored with git-lfs: its content through the LFS filter, never the pointer.
  if (!found || !isPointerFile(target)) return found;
  if (!(await catFile(h, '--filters', commit, target)) || isPointerFile(target)) {
    throw new SyncerError('REMOTE', `${h.rel} at ${commit.slice(0, 12)} is stored with git-lfs and its content could not be read`, {
      hint: `${LFS_INSTALL_HINT}; the LFS object must be in the repository or its remote (git lfs fetch)`,
    });
  }
  return true;
}

async function catFile(h: HistoryFile, mode: 'blob' | '--filters', commit: string, target: string): Promise<boolean> {
  const fd = openSync(target, 'w');
  try {
    return await writeFileAt(h.git, commit, h.rel, fd, { filters: mode === '--filters' });
  } finally {
    closeSync(fd);
  }
}

/** Records of one version of the file, checked to be in id order. */
async function* inOrder(path: string | undefined, format: StoredFormat): AsyncGenerator<StoredRecord> {
  if (!path) return;
  let last: string | undefined;
  for await (const r of readStored(path, format)) {
    if (last !== undefined && r.key <= last) {
      throw new StoreError('the data file is not sorted by id (edited by hand?): run `syncer source pull` once to re-sort it');
    }
    last = r.key;
    yield r;
  }
}

/** Walk two sorted versions of the file; hand the lines that differ to the fold. */
async function compareVersions(before: string | undefined, after: string | undefined, format: StoredFormat, fold: CommitFold): Promise<void> {
  const a = inOrder(before, format);
  const b = inOrder(after, format);
  let x = await a.next();
  let y = await b.next();
  while (!x.done || !y.done) {
    if (y.done || (!x.done && x.value.key < y.value.key)) {
      fold.removed(x.value!.line);
      x = await a.next();
    } else if (x.done || y.value.key < x.value.key) {
      fold.added(y.value.line);
      y = await b.next();
    } else {
      if (x.value.line !== y.value.line) {
        fold.removed(x.value.line);
        fold.added(y.value.line);
      }
      x = await a.next();
      y = await b.next();
    }
  }
  fold.end();
}
