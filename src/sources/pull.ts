/**
 * source pull: fetch records (from the cursor on), spool them to disk sorted by hub id, merge
 * them with the committed file (sorted too) line by line into a new file, and commit data and
 * cursor together. Memory stays bounded by the sort chunk, not by the number of records. A run
 * that fails before the commit leaves the working tree and the cursor as they were.
 */
import { existsSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { SyncerError, usageError } from '../errors.js';
import { makeDirs } from '../adapters/dirs.js';
import { envKnob } from '../config/resolve.js';
import { utcDate } from '../core/names.js';
import { throwIfAborted, type FetchContext, type FetchedItem } from './core/connector.js';
import { fileStem, idFieldOf, type Definition } from './core/definitions.js';
import {
  atOrAfter,
  cursorValue,
  defaultHubId,
  idString,
  indexEntry,
  isPlainObject,
  laterCursor,
  RunReport,
  serializeState,
  sortKey,
  sourceFields,
  updatedKey,
  type Cursor,
  type SourceState,
} from './core/records.js';
import { fileDigest, SortSpool, StoreError, StoredReader, toCsvShape, writeCsvFromNdjson, csvColumns, type StoredFormat } from './core/store.js';
import { freshLine, RowTemplate } from './core/fresh.js';
import { fetchBatches } from './connectors/index.js';
import type { SourceIo } from './io.js';
import { mergeInto, resortCommitted, spoolHead } from './pull-merge.js';
import { openSourceFiles } from './source-files.js';
import { commitPaths, restorePaths, writeAtomic, type Repo } from './repo.js';

export interface PullOptions {
  full?: boolean;
  dryRun?: boolean;
  sync?: boolean;
}

export interface PullResult {
  source: string;
  hub: string;
  file: string;
  dryRun: boolean;
  committed: boolean;
  commit?: string;
  report: RunReport;
  sync?: unknown;
}

/** Sort chunk: records held in memory at once while spooling (tests lower it to exercise the merge). */
const chunkSize = (env: NodeJS.ProcessEnv) => envKnob(env, 'SYNCER_SOURCE_CHUNK');

/** One pull under way: the source, its files, its state before the run, and the scratch space. */
interface PullRun {
  io: SourceIo;
  repo: Repo;
  name: string;
  def: Definition;
  /** The hub's data file, relative to the repository and absolute. */
  rel: string;
  abs: string;
  stateRel: string;
  format: StoredFormat;
  /** Is the data file this source's own (`<hub>/<name>.<format>`)? */
  home: boolean;
  idField: string;
  stateText: string | undefined;
  state: SourceState;
  /** Fetch only records at or after this (undefined: everything). */
  cursor: Cursor | undefined;
  report: RunReport;
  /** Scratch directory, and the new data file beside the old one until it replaces it. */
  work: string;
  out: string;
  renamed: boolean;
}

/** The committed records as the merge reads them, and which ids of this source map to other hub ids. */
interface Committed {
  path: string;
  format: StoredFormat;
  index: Map<string, string | number>;
  /** Every line has its id where `leadingIdKey` reads it (when it reads one), so the merge need not parse untouched lines. */
  keysFromText: boolean;
}

/** Pull a source into its hub's data file; the caller holds the repository's lock. */
export async function pullSource(io: SourceIo, repo: Repo, name: string, def: Definition, options: PullOptions): Promise<PullResult> {
  const run = await startPull(io, repo, name, def, options);
  try {
    const committed = await readCommitted(run);
    const { spool, cursor } = await fetchIntoSpool(run, committed.index);
    const identical = await mergeIntoNewFile(run, committed, spool);
    run.report.cursor = cursor;
    const newStateText = serializeState({ ...run.state, pull: cursor ? { cursor } : undefined });
    const result: PullResult = { source: name, hub: def.hub, file: run.rel, dryRun: !!options.dryRun, committed: false, report: run.report };
    const changed = await anythingChanged(run, newStateText, identical);
    if (options.dryRun || !changed) return result;
    await replaceAndCommit(run, newStateText, result);
    return result;
  } catch (e) {
    if (e instanceof SyncerError) throw e;
    if ((e as NodeJS.ErrnoException)?.code === 'ENOSPC') {
      throw new SyncerError('USAGE', `no space left while writing ${run.rel}: nothing was committed`, {
        hint: 'free space on that device, then pull again',
        cause: e,
      });
    }
    throw e;
  } finally {
    if (!run.renamed) rmSync(run.out, { force: true });
    rmSync(run.work, { recursive: true, force: true });
  }
}

/** The files and state of the source, checked: no uncommitted edits, records rather than a git-lfs pointer. */
async function startPull(io: SourceIo, repo: Repo, name: string, def: Definition, options: PullOptions): Promise<PullRun> {
  const { rel, abs, stateRel, stateText, state } = await openSourceFiles(repo, name, def);
  const cursor = options.full || !def.updatedField ? undefined : state.pull?.cursor;
  const report = new RunReport();
  report.cursor = state.pull?.cursor;
  const work = mkdtempSync(join(tmpdir(), 'syncer-source-'));
  const out = join(dirname(abs), `.${basename(abs)}.syncer-tmp-${process.pid}`);
  const format: StoredFormat = def.format ?? 'ndjson';
  const home = fileStem(name, def) === name;
  return { io, repo, name, def, rel, abs, stateRel, format, home, idField: idFieldOf(def), stateText, state, cursor, report, work, out, renamed: false };
}

/** Step 1. The committed file: which ids of this source map to other hub ids, and is it sorted (else re-sort it)? */
async function readCommitted(run: PullRun): Promise<Committed> {
  const committed: Committed = { path: run.abs, format: run.format, index: new Map(), keysFromText: false };
  let sorted = true;
  let prev: string | undefined;
  const r = new StoredReader(run.abs, run.format);
  try {
    while (await r.fill()) {
      for (let s = r.next(); s !== undefined; s = r.next()) {
        if (prev !== undefined && s.key <= prev) sorted = false;
        prev = s.key;
        const e = indexEntry(s.rec, run.name, run.home);
        if (e) committed.index.set(e[0], e[1]);
      }
    }
    committed.keysFromText = r.keysInText;
    if (!sorted) {
      run.io.warn(`${run.rel} is not sorted by id (edited by hand?): it is re-sorted`);
      committed.path = join(run.work, 'committed.ndjson');
      committed.format = 'ndjson';
      await resortCommitted(run.abs, run.format, committed.path, run.work, chunkSize(run.io.env));
    }
  } catch (e) {
    if (e instanceof StoreError) throw usageError(`${e.message}`, `fix ${run.rel} or restore it with git`);
    throw e;
  } finally {
    await r.close();
  }
  return committed;
}

/** Step 2. Fetch, validate, spool sorted by hub id; the cursor moves to the latest updated value fetched. */
async function fetchIntoSpool(run: PullRun, index: Map<string, string | number>): Promise<{ spool: SortSpool; cursor: Cursor | undefined }> {
  const { io, def, report } = run;
  const spool = new SortSpool(run.work, chunkSize(io.env));
  let cursor = run.state.pull?.cursor;
  const ctx: FetchContext = {
    name: run.name,
    env: io.env,
    signal: io.signal,
    repoRoot: run.repo.top,
    report,
    cursor: run.cursor,
    updatedField: def.updatedField,
    idField: run.idField,
    debug: (m) => io.debug(m),
  };
  const templates = new Templates(run);
  for await (const batch of await fetchBatches(def, ctx)) {
    const template = templates.of(batch.columns);
    for (const item of batch.items) {
      throwIfAborted(io.signal);
      report.fetched++;
      const accepted = spoolEntryOf(run, index, item, template);
      if (!accepted) continue;
      if (accepted.seen) cursor = laterCursor(cursor, accepted.seen);
      if (spool.push(accepted.key, accepted.head, accepted.line)) await spool.spill();
    }
  }
  return { spool, cursor };
}

/** The row template of the latest batch's columns (every batch of a CSV file has the same). */
class Templates {
  private columns: readonly string[] | undefined;
  private template: RowTemplate | undefined;

  constructor(private readonly run: PullRun) {}

  of(columns: readonly string[] | undefined): RowTemplate | undefined {
    if (columns !== this.columns) {
      this.columns = columns;
      this.template = columns && RowTemplate.of(columns, this.run.idField, this.run.name, this.run.format === 'csv');
    }
    return this.template;
  }
}

/**
 * A fetched record as the spool keeps it (its sort key, its updated value and its fresh line),
 * with the cursor it reached; undefined when it is skipped (not an object, no id, no date:
 * reported) or older than the cursor (already committed).
 */
function spoolEntryOf(
  run: PullRun,
  index: Map<string, string | number>,
  item: FetchedItem,
  template: RowTemplate | undefined,
): { key: string; head: string; line: string; seen?: Cursor } | undefined {
  const { report, idField, name } = run;
  const where = item.line !== undefined ? { line: item.line } : { position: item.position };
  if (!isPlainObject(item.record)) {
    report.warn('malformed-record', { ...where, message: 'not a JSON object' });
    report.skipped++;
    return undefined;
  }
  const raw = item.record;
  const rawId = raw[idField];
  const sid = idString(rawId);
  if (sid === undefined) {
    report.warn('missing-id', { ...where, message: `no ${idField}` });
    report.skipped++;
    return undefined;
  }
  const updated = updatedOf(run, raw, sid, where);
  if (!updated) return undefined;
  const csv = run.format === 'csv';
  const sourceId: string | number = csv || typeof rawId !== 'number' ? sid : rawId;
  let hubId = index.get(sid) ?? defaultHubId(name, run.home, sourceId);
  if (csv) hubId = String(hubId);
  // A template's rows have text ids (sourceId is sid); JSON would turn an infinite hub id into null, which the template does not do.
  const line =
    template && (typeof hubId === 'string' || Number.isFinite(hubId))
      ? template.line(raw, hubId, sid)
      : freshLine(csv ? toCsvShape(sourceFields(raw, idField)) : sourceFields(raw, idField), hubId, name, sourceId, csv);
  return { key: sortKey(String(hubId)), head: spoolHead(updated.upd), line, seen: updated.seen };
}

/**
 * A record's updated value (null without an updatedField), and the cursor it reaches; undefined
 * when it is not a date or a number (reported) or when it is older than the cursor.
 */
function updatedOf(run: PullRun, raw: Record<string, unknown>, sid: string, where: { line: number } | { position: number }) {
  const { def, report } = run;
  if (!def.updatedField) return { upd: null, seen: undefined };
  const v = raw[def.updatedField];
  const k = updatedKey(v);
  if (k === undefined) {
    report.warn('unparseable-date', { ...where, id: sid, message: `${def.updatedField} ${JSON.stringify(v ?? null)} is not a date or a number` });
    report.skipped++;
    return undefined;
  }
  if (!atOrAfter(k, run.cursor)) {
    report.unchanged++; // older than the cursor: already committed
    return undefined;
  }
  return { upd: k, seen: { value: cursorValue(v), key: k } };
}

/** Step 3. Merge the spool with the committed file into the new file (beside the old one); is it the committed file as it was? */
async function mergeIntoNewFile(run: PullRun, committed: Committed, spool: SortSpool): Promise<boolean | undefined> {
  const merged = run.format === 'csv' ? join(run.work, 'merged.ndjson') : run.out;
  const { columns, identical } = await mergeInto(committed, spool, merged, run.name, run.format, run.report);
  if (run.format === 'csv') await writeCsvFromNdjson(merged, run.out, csvColumns(columns));
  return committed.path === run.abs ? identical : undefined;
}

/** Do the data or the state differ from what is committed? (`identical`: the merge already knows for the data.) */
async function anythingChanged(run: PullRun, newStateText: string, identical: boolean | undefined): Promise<boolean> {
  const stateChanged = newStateText !== (run.stateText ?? serializeState({}));
  if (!existsSync(run.abs)) return run.report.added > 0 || stateChanged;
  const dataChanged = identical !== undefined ? !identical : (await fileDigest(run.out)) !== (await fileDigest(run.abs));
  return dataChanged || stateChanged;
}

/** Step 4. Replace the files and commit them together, or put everything back. */
async function replaceAndCommit(run: PullRun, newStateText: string, result: PullResult): Promise<void> {
  const { io, repo } = run;
  const paths = [run.rel, run.stateRel];
  throwIfAborted(io.signal);
  try {
    makeDirs(dirname(run.abs));
    renameSync(run.out, run.abs);
    run.renamed = true;
    writeAtomic(join(repo.top, run.stateRel), newStateText);
    result.committed = await commitPaths(repo.git, paths, `pull ${run.name} ${utcDate(io.now())}`);
    result.commit = await repo.git.revParse('HEAD');
  } catch (e) {
    await restorePaths(repo.git, repo.top, paths).catch(() => undefined);
    run.report.cursor = run.state.pull?.cursor;
    throw e;
  }
}
