/**
 * syncer source pull: fetch records (from the cursor on), spool them to disk sorted by hub id,
 * merge them with the committed file (sorted too) line by line into a new file, and commit data
 * and cursor together. Memory stays bounded by the sort chunk, not by the number of records. A
 * run that fails before the commit leaves the working tree and the cursor as they were.
 */
import { ensureContent } from '../../adapters/lfs.js';
import { mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { SyncerError, usageError } from '../../errors.js';
import { utcDate } from '../../core/names.js';
import type { Runtime } from '../../runtime.js';
import { throwIfAborted, type FetchContext, type FetchedItem } from './adapter.js';
import { dataFile, fileStem, idFieldOf, stateFile, type Definition } from './definitions.js';
import {
  atOrAfter, canonicalLine, contentKey, cursorValue, defaultHubId, idString, indexEntry, isPlainObject, laterCursor, mergeRecord,
  parseState, RunReport, serializeState, sortKey, sourceFields, updatedKey, type Cursor, type Rec,
} from './records.js';
import { csvColumns, csvNames, fileDigest, LineWriter, readStored, SortSpool, StoreError, toCsvShape, writeCsvFromNdjson, type StoredFormat } from './store.js';
import { commitPaths, ensureClean, getDefinition, locked, openRepo, readText, restorePaths, writeAtomic, type Repo } from './repo.js';
import { makeDirs } from '../../adapters/dirs.js';
import { envKnob } from '../../config/resolve.js';

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

export async function fetcher(d: Definition, ctx: FetchContext): Promise<AsyncIterable<FetchedItem>> {
  if (d.type === 'csv') return (await import('./csv.js')).fetchCsv(d, ctx);
  if (d.type === 'http') return (await import('./http.js')).fetchHttp(d, ctx);
  return (await import('./postgres.js')).fetchPostgres(d, ctx);
}

export async function pull(rt: Runtime, name: string, options: PullOptions): Promise<PullResult> {
  const repo = await openRepo(rt);
  const def = getDefinition(repo.top, name);
  const result = await locked(rt, repo, `source pull of ${name}`, () => pullLocked(rt, repo, name, def, options));
  if (options.sync && !options.dryRun) {
    const { sync } = await import('../sync/index.js');
    result.sync = await sync(rt, { hub: def.hub });
  }
  return result;
}

interface SpoolEntry {
  hubId: string | number;
  sourceId: string | number;
  upd: number | null;
  fields: Rec;
  where: number;
}

async function pullLocked(rt: Runtime, repo: Repo, name: string, def: Definition, options: PullOptions): Promise<PullResult> {
  const { git, top } = repo;
  const rel = dataFile(name, def);
  const stateRel = stateFile(name);
  const abs = join(top, rel);
  const format: StoredFormat = def.format ?? 'ndjson';
  const home = fileStem(name, def) === name;
  const idField = idFieldOf(def);
  await ensureClean(git, [rel, stateRel]);
  await ensureContent(git, top, rel); // records, not a git-lfs pointer
  const stateText = readText(join(top, stateRel));
  const state = parseState(stateText);
  const cursor: Cursor | undefined = options.full || !def.updatedField ? undefined : state.pull?.cursor;
  const report = new RunReport();
  report.cursor = state.pull?.cursor;

  const work = mkdtempSync(join(tmpdir(), 'syncer-source-'));
  const out = join(dirname(abs), `.${basename(abs)}.syncer-tmp-${process.pid}`);
  let renamed = false;
  try {
    // 1. The committed file: which ids of this source map to other hub ids, and is it sorted?
    let committed = abs;
    let committedFormat = format;
    const index = new Map<string, string | number>();
    let sorted = true;
    let prev: string | undefined;
    try {
      for await (const r of readStored(abs, format)) {
        if (prev !== undefined && r.key <= prev) sorted = false;
        prev = r.key;
        const e = indexEntry(r.rec, name, home);
        if (e) index.set(e[0], e[1]);
      }
      if (!sorted) {
        rt.out.warn(`${rel} is not sorted by id (edited by hand?): it is re-sorted`);
        committed = join(work, 'committed.ndjson');
        committedFormat = 'ndjson';
        await resortCommitted(abs, format, committed, work, chunkSize(rt.env));
      }
    } catch (e) {
      if (e instanceof StoreError) throw usageError(`${e.message}`, `fix ${rel} or restore it with git`);
      throw e;
    }

    // 2. Fetch, validate, spool sorted by hub id.
    const spool = new SortSpool(work, chunkSize(rt.env));
    let newCursor = state.pull?.cursor;
    const ctx: FetchContext = { name, env: rt.env, signal: rt.deps.signal, repoRoot: top, report, cursor, updatedField: def.updatedField, idField, debug: (m) => rt.out.debug(m) };
    for await (const item of await fetcher(def, ctx)) {
      throwIfAborted(rt.deps.signal);
      report.fetched++;
      const where = item.line !== undefined ? { line: item.line } : { position: item.position };
      if (!isPlainObject(item.record)) {
        report.warn('malformed-record', { ...where, message: 'not a JSON object' });
        report.skipped++;
        continue;
      }
      const raw = item.record;
      const rawId = raw[idField];
      const sid = idString(rawId);
      if (sid === undefined) {
        report.warn('missing-id', { ...where, message: `no ${idField}` });
        report.skipped++;
        continue;
      }
      let upd: number | null = null;
      if (def.updatedField) {
        const v = raw[def.updatedField];
        const k = updatedKey(v);
        if (k === undefined) {
          report.warn('unparseable-date', { ...where, id: sid, message: `${def.updatedField} ${JSON.stringify(v ?? null)} is not a date or a number` });
          report.skipped++;
          continue;
        }
        if (!atOrAfter(k, cursor)) {
          report.unchanged++; // older than the cursor: already committed
          continue;
        }
        upd = k;
        newCursor = laterCursor(newCursor, { value: cursorValue(v), key: k });
      }
      const sourceId: string | number = format === 'csv' || typeof rawId !== 'number' ? sid : rawId;
      let hubId = index.get(sid) ?? defaultHubId(name, home, sourceId);
      let fields = sourceFields(raw, idField);
      if (format === 'csv') {
        hubId = String(hubId);
        fields = toCsvShape(fields);
      }
      const entry: SpoolEntry = { hubId, sourceId, upd, fields, where: item.line ?? item.position };
      await spool.add(sortKey(String(hubId)), JSON.stringify(entry));
    }

    // 3. Merge with the committed file into the new file.
    const merged = format === 'csv' ? join(work, 'merged.ndjson') : out;
    const columns = await merge(committed, committedFormat, spool, merged, name, format, report);
    if (format === 'csv') await writeCsvFromNdjson(merged, out, csvColumns(columns));

    report.cursor = newCursor;
    const before = await fileDigest(abs);
    const dataChanged = before === undefined ? report.added > 0 : (await fileDigest(out)) !== before;
    const newStateText = serializeState({ ...state, pull: newCursor ? { cursor: newCursor } : undefined });
    const stateChanged = newStateText !== (stateText ?? serializeState({}));
    const result: PullResult = { source: name, hub: def.hub, file: rel, dryRun: !!options.dryRun, committed: false, report };
    if (options.dryRun || (!dataChanged && !stateChanged)) return result;

    // 4. Replace the files and commit them together, or put everything back.
    throwIfAborted(rt.deps.signal);
    try {
      makeDirs(dirname(abs));
      renameSync(out, abs);
      renamed = true;
      writeAtomic(join(top, stateRel), newStateText);
      result.committed = await commitPaths(git, [rel, stateRel], `pull ${name} ${utcDate(rt.now())}`);
      result.commit = await git.revParse('HEAD');
    } catch (e) {
      await restorePaths(git, top, [rel, stateRel]).catch(() => undefined);
      report.cursor = state.pull?.cursor;
      throw e;
    }
    return result;
  } catch (e) {
    if (e instanceof SyncerError) throw e;
    if ((e as NodeJS.ErrnoException)?.code === 'ENOSPC') throw new SyncerError('UNEXPECTED', `no space left while writing ${rel}: nothing was committed`, { cause: e });
    throw e;
  } finally {
    if (!renamed) rmSync(out, { force: true });
    rmSync(work, { recursive: true, force: true });
  }
}

/** A committed file that is out of order (edited by hand): sort it, the last line of an id winning. */
async function resortCommitted(abs: string, format: StoredFormat, target: string, work: string, chunk: number): Promise<void> {
  const spool = new SortSpool(join(work), chunk);
  makeDirs(work);
  for await (const r of readStored(abs, format)) await spool.add(r.key, format === 'ndjson' ? r.line : canonicalLine(r.rec));
  const w = new LineWriter(target);
  let pending: { key: string; text: string } | undefined;
  for await (const e of spool.sorted()) {
    if (pending && pending.key !== e.key) await w.write(pending.text + '\n');
    pending = e;
  }
  if (pending) await w.write(pending.text + '\n');
  await w.close();
}

/**
 * The merge: committed records (sorted) and fetched ones (sorted, an id possibly several times)
 * into `target`. Untouched records keep their line byte for byte; a fetched id keeps the version
 * with the highest updated value (the last one on a tie). Returns the CSV column names seen.
 */
async function merge(committedPath: string, committedFormat: StoredFormat, spool: SortSpool, target: string, name: string, format: StoredFormat, report: RunReport): Promise<Set<string>> {
  const columns = new Set<string>();
  const committed = readStored(committedPath, committedFormat)[Symbol.asyncIterator]();
  let c = await committed.next();
  const w = new LineWriter(target);
  const emit = async (line: string, rec: Rec | undefined) => {
    await w.write(line + '\n');
    if (format === 'csv') for (const n of csvNames(rec ?? (JSON.parse(line) as Rec))) columns.add(n);
  };
  const apply = async (key: string, e: SpoolEntry) => {
    while (!c.done && c.value.key < key) {
      await emit(committedFormat === format && format === 'ndjson' ? c.value.line : canonicalLine(c.value.rec), c.value.rec);
      c = await committed.next();
    }
    const old = !c.done && c.value.key === key ? c.value : undefined;
    let rec = mergeRecord(old?.rec, e.fields, e.hubId, name, e.sourceId);
    if (format === 'csv') rec = toCsvShape(rec);
    const line = canonicalLine(rec);
    if (!old) {
      report.added++;
      await emit(line, rec);
      return;
    }
    if (line === old.line) report.unchanged++; // the common case: byte for byte the same
    else if (contentKey(rec) === contentKey(old.rec)) report.unchanged++;
    else report.updated++;
    await emit(line !== old.line && committedFormat === 'ndjson' && line === canonicalLine(old.rec) ? old.line : line, rec);
    c = await committed.next();
  };
  try {
    let group: { key: string; best: SpoolEntry } | undefined;
    for await (const s of spool.sorted()) {
      const e = JSON.parse(s.text) as SpoolEntry;
      if (group && group.key === s.key) {
        report.warn('duplicate-id', { id: String(e.hubId), message: `id ${JSON.stringify(e.sourceId)} came more than once; the latest version is kept` });
        if ((e.upd ?? -Infinity) >= (group.best.upd ?? -Infinity)) group.best = e;
        continue;
      }
      if (group) await apply(group.key, group.best);
      group = { key: s.key, best: e };
    }
    if (group) await apply(group.key, group.best);
    while (!c.done) {
      await emit(committedFormat === format && format === 'ndjson' ? c.value.line : canonicalLine(c.value.rec), c.value.rec);
      c = await committed.next();
    }
    await w.close();
  } catch (e) {
    w.abandon();
    if (e instanceof StoreError) throw usageError(e.message);
    throw e;
  }
  return columns;
}
