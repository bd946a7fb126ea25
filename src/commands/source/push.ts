/**
 * syncer source push: send the records whose content changed since the last push (the commit
 * last pushed is the cursor) to the destination, in batches, and commit the ids it assigned under
 * `externalIds.<name>`. What changed is read from git, commit by commit along the first-parent
 * history of the data file: a change that came from a pull of this very source is not sent back
 * to it (no echo), and a change of externalIds alone is no change.
 *
 * When a batch fails half-way, the ids of the batches already accepted are still committed (the
 * destination has those records: forgetting their ids would create them twice next time), and the
 * cursor stays, so the next push sends the rest (and re-sends the accepted ones as updates).
 */
import { closeSync, existsSync, mkdtempSync, openSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { SyncerError, usageError } from '../../errors.js';
import { gitToFile } from '../../adapters/git-bytes.js';
import { ensureContent, isPointerFile, LFS_INSTALL_HINT } from '../../adapters/lfs.js';
import { utcDate } from '../../core/names.js';
import type { Runtime } from '../../runtime.js';
import { throwIfAborted, type Destination, type OutgoingRecord, type PushContext } from './adapter.js';
import { dataFile, idFieldOf, stateFile, type Definition } from './definitions.js';
import { canonicalLine, CommitFold, EXT, externalIds, idString, outgoing, parseState, pulledBy, RunReport, serializeState, type Rec } from './records.js';
import { csvColumns, csvNames, LineWriter, readStored, StoreError, toCsvShape, writeCsvFromNdjson, type StoredFormat, type StoredRecord } from './store.js';
import { commitPaths, ensureClean, getDefinition, locked, openRepo, readText, restorePaths, writeAtomic, type Repo } from './repo.js';

export interface PushOptions {
  dryRun?: boolean;
}

export interface PushResult {
  source: string;
  hub: string;
  file: string;
  dryRun: boolean;
  committed: boolean;
  commit?: string;
  /** The commit whose records were pushed (the new push cursor), when the push completed. */
  pushedCommit?: string;
  report: RunReport;
}

export async function destination(d: Definition, ctx: PushContext): Promise<Destination> {
  if (d.type === 'csv') return (await import('./csv.js')).csvDestination(d, ctx);
  if (d.type === 'http') return (await import('./http.js')).httpDestination(d, ctx);
  return (await import('./postgres.js')).postgresDestination(d, ctx);
}

export async function push(rt: Runtime, name: string, options: PushOptions): Promise<PushResult> {
  const repo = await openRepo(rt);
  const def = getDefinition(repo.top, name);
  return locked(rt, repo, `source push of ${name}`, () => pushLocked(rt, repo, name, def, options));
}

/** `git cat-file blob <commit>:<path>` into a file; false when the commit has no such file. */
async function extract(rt: Runtime, top: string, commit: string, rel: string, target: string): Promise<boolean> {
  const found = await catFile(rt, top, 'blob', commit, rel, target);
  // A version stored with git-lfs: its content through the LFS filter, never the pointer.
  if (!found || !isPointerFile(target)) return found;
  if (!(await catFile(rt, top, '--filters', commit, rel, target)) || isPointerFile(target)) {
    throw new SyncerError('GIT', `${rel} at ${commit.slice(0, 12)} is stored with git-lfs and its content could not be read`, { hint: `${LFS_INSTALL_HINT}; the LFS object must be in the repository or its remote (git lfs fetch)` });
  }
  return true;
}

async function catFile(rt: Runtime, top: string, mode: 'blob' | '--filters', commit: string, rel: string, target: string): Promise<boolean> {
  const fd = openSync(target, 'w');
  try {
    return await gitToFile(top, ['cat-file', mode, `${commit}:${rel}`], fd, rt.env);
  } finally {
    closeSync(fd);
  }
}

/** Records of one version of the file, checked to be in id order. */
async function* inOrder(path: string | undefined, format: StoredFormat): AsyncGenerator<StoredRecord> {
  if (!path) return;
  let last: string | undefined;
  for await (const r of readStored(path, format)) {
    if (last !== undefined && r.key <= last) throw new StoreError('the data file is not sorted by id (edited by hand?): run `syncer source pull` once to re-sort it');
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

async function pushLocked(rt: Runtime, repo: Repo, name: string, def: Definition, options: PushOptions): Promise<PushResult> {
  const { git, top } = repo;
  const rel = dataFile(name, def);
  const stateRel = stateFile(name);
  const abs = join(top, rel);
  const format: StoredFormat = def.format ?? 'ndjson';
  const idField = idFieldOf(def);
  await ensureClean(git, [rel, stateRel]);
  await ensureContent(git, top, rel); // records, not a git-lfs pointer
  const stateText = readText(join(top, stateRel));
  const state = parseState(stateText);
  const report = new RunReport();
  report.cursor = state.pull?.cursor;
  const result: PushResult = { source: name, hub: def.hub, file: rel, dryRun: !!options.dryRun, committed: false, report };
  const head = await git.revParse('HEAD');
  if (!head || !existsSync(abs)) {
    rt.out.info(`nothing to push: ${rel} is not committed yet (pull, or commit records there, first)`);
    return result;
  }

  const work = mkdtempSync(join(tmpdir(), 'syncer-push-'));
  const out = join(dirname(abs), `.${basename(abs)}.syncer-tmp-${process.pid}`);
  let renamed = false;
  let dest: Destination | undefined;
  try {
    // 1. What changed since the last push, and who changed it.
    let from = state.push?.commit;
    if (from && (await git.tryRun(['merge-base', '--is-ancestor', from, head])) === undefined) {
      rt.out.warn(`the last pushed commit ${from.slice(0, 12)} is not in this history (rewritten?): every record is considered`);
      from = undefined;
    }
    const log = await git.run(['log', '--first-parent', '--reverse', '--format=%H%x09%s', from ? `${from}..${head}` : head, '--', rel]);
    const pending = new Map<string, boolean>();
    let prevPath: string | undefined;
    if (from) {
      prevPath = join(work, 'from');
      if (!(await extract(rt, top, from, rel, prevPath))) prevPath = undefined;
    }
    let i = 0;
    try {
      for (const entry of log.split('\n').filter(Boolean)) {
        throwIfAborted(rt.deps.signal);
        const tab = entry.indexOf('\t');
        const commit = entry.slice(0, tab);
        const subject = entry.slice(tab + 1);
        const cur = join(work, `v${i++ % 2}`);
        const exists = await extract(rt, top, commit, rel, cur);
        await compareVersions(prevPath, exists ? cur : undefined, format, new CommitFold(pending, pulledBy(subject) === name));
        prevPath = exists ? cur : undefined;
        if (exists) {
          const keep = join(work, 'prev');
          renameSync(cur, keep);
          prevPath = keep;
        }
      }
    } catch (e) {
      if (e instanceof StoreError) throw usageError(`${rel} at some commit: ${e.message}`);
      throw e;
    }
    const toSend = new Set<string>();
    for (const [id, byDestination] of pending) if (!byDestination) toSend.add(id);
    rt.out.debug(`source ${name}: ${pending.size} record(s) changed since ${from?.slice(0, 12) ?? 'the beginning'}, ${toSend.size} to send`);

    if (options.dryRun) {
      report.pushed = toSend.size;
      return result;
    }
    if (toSend.size === 0) {
      // Nothing to send, nothing to commit: moving the cursor alone would itself be a new commit
      // at every run, and the next push finds the same nothing.
      result.pushedCommit = head;
      return result;
    }

    // 2. Send them, in the file's order, batch by batch.
    const ctx: PushContext = { name, env: rt.env, signal: rt.deps.signal, repoRoot: top, report, idField, debug: (m) => rt.out.debug(m), dryRun: false };
    dest = await destination(def, ctx);
    const assigned = new Map<string, string | number>();
    let failure: unknown;
    let batch: OutgoingRecord[] = [];
    const flush = async () => {
      const sending = batch;
      batch = [];
      if (!sending.length) return;
      const { ids } = await dest!.send(sending);
      sending.forEach((r, k) => {
        const id = ids[k];
        if (id === undefined || idString(id) === undefined) {
          report.skipped++;
          return;
        }
        report.pushed++;
        if (r.destId === undefined) report.added++;
        else report.updated++;
        if (r.destId === undefined || String(r.destId) !== String(id)) assigned.set(r.hubId, id);
      });
    };
    try {
      for await (const r of readStored(abs, format)) {
        throwIfAborted(rt.deps.signal);
        const id = idString(r.rec.id)!;
        if (!toSend.has(id)) continue;
        const o = outgoing(r.rec, name, idField);
        batch.push({ hubId: id, destId: o.destId, fields: o.fields });
        if (batch.length >= dest.batchSize) await flush();
      }
      await flush();
      await dest.close();
    } catch (e) {
      if (e instanceof SyncerError && e.kind === 'INTERRUPTED' && assigned.size === 0) throw e;
      failure = e;
      report.error('push', (e as Error).message);
    }

    // 3. Write back the ids the destination assigned; move the cursor only if everything went.
    const complete = failure === undefined && report.skipped === 0;
    if (!complete && report.skipped > 0) report.error('rejected', `${report.skipped} record(s) refused by the destination: they are sent again next time`, report.skipped);
    const paths = [rel, stateRel];
    const newState = serializeState(complete ? { ...state, push: { commit: head } } : state);
    if (assigned.size > 0 || newState !== (stateText ?? serializeState({}))) {
      throwIfAborted(rt.deps.signal);
      if (assigned.size > 0) await writeBack(abs, out, work, format, name, assigned);
      try {
        if (assigned.size > 0) {
          renameSync(out, abs);
          renamed = true;
        }
        writeAtomic(join(top, stateRel), newState);
        result.committed = await commitPaths(git, paths, `push ${name} ${utcDate(rt.now())}`);
        result.commit = await git.revParse('HEAD');
      } catch (e) {
        await restorePaths(git, top, paths).catch(() => undefined);
        throw e;
      }
    }
    if (complete) result.pushedCommit = head;
    if (failure) {
      if (failure instanceof SyncerError) {
        throw new SyncerError(failure.kind, `${failure.message}${result.committed ? `; the ids of the ${assigned.size} record(s) already accepted are committed` : ''}; the push cursor did not move`, { hint: failure.hint, cause: failure });
      }
      throw failure;
    }
    return result;
  } finally {
    await dest?.close().catch(() => undefined);
    if (!renamed) rmSync(out, { force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

/** The committed file with `externalIds.<name>` set for the records the destination created. */
async function writeBack(abs: string, out: string, work: string, format: StoredFormat, name: string, assigned: Map<string, string | number>): Promise<void> {
  const target = format === 'csv' ? join(work, 'writeback.ndjson') : out;
  const w = new LineWriter(target);
  const columns = new Set<string>();
  try {
    for await (const r of readStored(abs, format)) {
      const id = idString(r.rec.id)!;
      const got = assigned.get(id);
      let rec: Rec = r.rec;
      let line = format === 'ndjson' ? r.line : canonicalLine(rec);
      if (got !== undefined) {
        rec = { ...r.rec, [EXT]: { ...externalIds(r.rec), [name]: format === 'csv' ? String(got) : got } };
        if (format === 'csv') rec = toCsvShape(rec);
        line = canonicalLine(rec);
      }
      if (format === 'csv') for (const n of csvNames(rec)) columns.add(n);
      await w.write(line + '\n');
    }
    await w.close();
  } catch (e) {
    w.abandon();
    throw e;
  }
  if (format === 'csv') await writeCsvFromNdjson(target, out, csvColumns(columns));
}
