/**
 * source push: send the records whose content changed since the last push (the commit last
 * pushed is the cursor) to the destination, in batches, and commit the ids it assigned under
 * `externalIds.<name>`. What changed is read from git, commit by commit along the first-parent
 * history of the data file: a change that came from a pull of this very source is not sent back
 * to it (no echo), and a change of externalIds alone is no change (./push-history.ts).
 *
 * When a batch fails half-way, the ids of the batches already accepted are still committed (the
 * destination has those records: forgetting their ids would create them twice next time), and the
 * cursor stays, so the next push sends the rest (and re-sends the accepted ones as updates).
 */
import { existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { hasKind, SyncerError } from '../errors.js';
import { isAncestor } from '../adapters/git-objects.js';
import { utcDate } from '../core/names.js';
import { throwIfAborted, type Destination, type OutgoingRecord, type PushContext } from './core/connector.js';
import { idFieldOf, type Definition } from './core/definitions.js';
import { canonicalLine, EXT, externalIds, idString, outgoing, RunReport, serializeState, type Rec, type SourceState } from './core/records.js';
import { csvColumns, csvNames, LineWriter, readStored, toCsvShape, writeCsvFromNdjson, type StoredFormat } from './core/store.js';
import { destination } from './connectors/index.js';
import { openSourceFiles } from './source-files.js';
import type { SourceIo } from './io.js';
import { changesSince } from './push-history.js';
import { commitPaths, restorePaths, writeAtomic, type Repo } from './repo.js';

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

/** One push under way: the source, its files, its state before the run, and what it reports. */
interface PushRun {
  io: SourceIo;
  repo: Repo;
  name: string;
  def: Definition;
  /** The hub's data file, relative to the repository and absolute. */
  rel: string;
  abs: string;
  stateRel: string;
  format: StoredFormat;
  idField: string;
  stateText: string | undefined;
  state: SourceState;
  report: RunReport;
  result: PushResult;
  /** The destination, once opened (closed whatever happens). */
  dest?: Destination;
}

/** Scratch space: a directory, and the new data file beside the old one until it replaces it. */
interface Scratch {
  work: string;
  out: string;
  renamed: boolean;
}

/** What the destination did with the records sent. */
interface Sent {
  /** Hub id -> the id the destination gave a record (new, or changed). */
  assigned: Map<string, string | number>;
  /** Why sending stopped before the end. */
  failure?: unknown;
}

/** Push a source's changed records to it; the caller holds the repository's lock. */
export async function pushSource(io: SourceIo, repo: Repo, name: string, def: Definition, options: PushOptions): Promise<PushResult> {
  const run = await startPush(io, repo, name, def, options);
  const head = await repo.git.revParse('HEAD');
  if (!head || !existsSync(run.abs)) {
    io.info(`nothing to push: ${run.rel} is not committed yet (pull, or commit records there, first)`);
    return run.result;
  }
  const work = mkdtempSync(join(tmpdir(), 'syncer-push-'));
  const scratch: Scratch = { work, out: join(dirname(run.abs), `.${basename(run.abs)}.syncer-tmp-${process.pid}`), renamed: false };
  try {
    const toSend = await recordsToSend(run, scratch, head);
    if (options.dryRun) {
      run.report.pushed = toSend.size;
      return run.result;
    }
    if (toSend.size === 0) {
      // Nothing to send, nothing to commit: moving the cursor alone would itself be a new commit
      // at every run, and the next push finds the same nothing.
      run.result.pushedCommit = head;
      return run.result;
    }
    const sent = await sendRecords(run, toSend);
    const complete = await commitAssignedIds(run, scratch, head, sent);
    if (complete) run.result.pushedCommit = head;
    if (sent.failure) throw failureAfterCommit(sent, run.result.committed);
    return run.result;
  } finally {
    await run.dest?.close().catch(() => undefined);
    if (!scratch.renamed) rmSync(scratch.out, { force: true });
    rmSync(scratch.work, { recursive: true, force: true });
  }
}

/** The files and state of the source, checked: no uncommitted edits, records rather than a git-lfs pointer. */
async function startPush(io: SourceIo, repo: Repo, name: string, def: Definition, options: PushOptions): Promise<PushRun> {
  const { rel, abs, stateRel, stateText, state } = await openSourceFiles(repo, name, def);
  const report = new RunReport();
  report.cursor = state.pull?.cursor;
  const result: PushResult = { source: name, hub: def.hub, file: rel, dryRun: !!options.dryRun, committed: false, report };
  const format: StoredFormat = def.format ?? 'ndjson';
  return { io, repo, name, def, rel, abs, stateRel, format, idField: idFieldOf(def), stateText, state, report, result };
}

/** Step 1. What changed since the last push, and who changed it: the hub ids to send. */
async function recordsToSend(run: PushRun, scratch: Scratch, head: string): Promise<Set<string>> {
  const { io, repo } = run;
  const from = await lastPushed(run, head);
  const history = { git: repo.git, top: repo.top, env: io.env, signal: io.signal, rel: run.rel, format: run.format, name: run.name, work: scratch.work };
  const pending = await changesSince(history, from, head);
  const toSend = new Set<string>();
  for (const [id, byDestination] of pending) if (!byDestination) toSend.add(id);
  io.debug(`source ${run.name}: ${pending.size} record(s) changed since ${from?.slice(0, 12) ?? 'the beginning'}, ${toSend.size} to send`);
  return toSend;
}

/** The commit last pushed, when it is in this history (else every record is considered). */
async function lastPushed(run: PushRun, head: string): Promise<string | undefined> {
  const from = run.state.push?.commit;
  if (from && !(await isAncestor(run.repo.git, from, head))) {
    run.io.warn(`the last pushed commit ${from.slice(0, 12)} is not in this history (rewritten?): every record is considered`);
    return undefined;
  }
  return from;
}

/** Step 2. Send the records, in the file's order, batch by batch; a failure stops sending and is kept. */
async function sendRecords(run: PushRun, toSend: Set<string>): Promise<Sent> {
  const { io, report } = run;
  const ctx: PushContext = {
    name: run.name,
    env: io.env,
    signal: io.signal,
    repoRoot: run.repo.top,
    report,
    idField: run.idField,
    debug: (m) => io.debug(m),
    dryRun: false,
  };
  const dest = await destination(run.def, ctx);
  run.dest = dest;
  const sent: Sent = { assigned: new Map() };
  try {
    const batch: OutgoingRecord[] = [];
    for await (const r of readStored(run.abs, run.format)) {
      throwIfAborted(io.signal);
      const id = idString(r.rec.id)!;
      if (!toSend.has(id)) continue;
      const o = outgoing(r.rec, run.name, run.idField);
      batch.push({ hubId: id, destId: o.destId, fields: o.fields });
      if (batch.length >= dest.batchSize) await sendBatch(dest, batch.splice(0), report, sent.assigned);
    }
    await sendBatch(dest, batch.splice(0), report, sent.assigned);
    await dest.close();
  } catch (e) {
    if (hasKind(e, 'INTERRUPTED') && sent.assigned.size === 0) throw e;
    sent.failure = e;
    report.error('push', (e as Error).message);
  }
  return sent;
}

/** One batch: count what the destination accepted, and keep the ids it assigned. */
async function sendBatch(dest: Destination, sending: OutgoingRecord[], report: RunReport, assigned: Map<string, string | number>): Promise<void> {
  if (!sending.length) return;
  const { ids } = await dest.send(sending);
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
}

/**
 * Step 3. Write back the ids the destination assigned and commit them, moving the cursor only if
 * everything went. True when the push is complete.
 */
async function commitAssignedIds(run: PushRun, scratch: Scratch, head: string, sent: Sent): Promise<boolean> {
  const { io, repo, report, result } = run;
  const complete = sent.failure === undefined && report.skipped === 0;
  if (!complete && report.skipped > 0) {
    report.error('rejected', `${report.skipped} record(s) refused by the destination: they are sent again next time`, report.skipped);
  }
  const paths = [run.rel, run.stateRel];
  const newState = serializeState(complete ? { ...run.state, push: { commit: head } } : run.state);
  if (sent.assigned.size === 0 && newState === (run.stateText ?? serializeState({}))) return complete;
  throwIfAborted(io.signal);
  if (sent.assigned.size > 0) await writeBack(run.abs, scratch.out, scratch.work, run.format, run.name, sent.assigned);
  try {
    if (sent.assigned.size > 0) {
      renameSync(scratch.out, run.abs);
      scratch.renamed = true;
    }
    writeAtomic(join(repo.top, run.stateRel), newState);
    result.committed = await commitPaths(repo.git, paths, `push ${run.name} ${utcDate(io.now())}`);
    result.commit = await repo.git.revParse('HEAD');
  } catch (e) {
    await restorePaths(repo.git, repo.top, paths).catch(() => undefined);
    throw e;
  }
  return complete;
}

/** The failure that stopped sending, saying what was kept of the run. */
function failureAfterCommit(sent: Sent, committed: boolean): unknown {
  const failure = sent.failure;
  if (!(failure instanceof SyncerError)) return failure;
  const kept = committed ? `; the ids of the ${sent.assigned.size} record(s) already accepted are committed` : '';
  return new SyncerError(failure.kind, `${failure.message}${kept}; the push cursor did not move`, { hint: failure.hint, cause: failure });
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
      await w.write(`${line}\n`);
    }
    await w.close();
  } catch (e) {
    w.abandon();
    throw e;
  }
  if (format === 'csv') await writeCsvFromNdjson(target, out, csvColumns(columns));
}
