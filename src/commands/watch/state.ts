/**
 * Where a watcher keeps its position (the revision it acted up to, and the keys it knew with
 * their mod revision and commit): a file in the per-user data dir (or --state), or, for a
 * --group, keys in etcd written by the leader only.
 *
 * The set of known keys is as large as the registry (100k advertisements: ~10 MB of JSON), and
 * the position is saved after every event. So a save writes only what changed: the file store
 * appends one line to a journal beside the snapshot (and rewrites the snapshot now and then); the
 * group store writes one etcd key per known dataset and the revision, in guarded transactions
 * (Registry.saveWatchState; the keys are laid out in core/keys.ts).
 *
 *   file:  FILE (snapshot {seq, revision, known, cluster, seen}) + FILE.journal (lines {seq, revision, set, del, cluster, seen})
 *   group: position {revision, cluster, seen}, and one entry {rev, commit, at} per known advertisement
 *
 * A group's position lives in etcd, so a wiped (or restored) etcd takes it away with the registry.
 * Each leader therefore also keeps a copy on its own machine (a file store beside the state files:
 * groupCopyFile). When the position is missing from etcd but this machine has a copy, the watcher
 * resumes from the copy as from a registry that was replaced: one warning, a re-list, and a diff
 * against what the copy knew (delivered entries recognised by key and commit), never "from now".
 * When etcd has the position, it is the truth (another machine may have led since): the copy is
 * rewritten from it when the leader starts. A machine that never led has no copy: etcd decides.
 */
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, closeSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Registry } from '../../adapters/registry.js';
import { SyncerError, usageError } from '../../errors.js';
import { rebase, type Filter, type Known, type Position } from './events.js';
import { makeDirs } from '../../adapters/dirs.js';

export interface PositionStore {
  describe: string;
  load(): Promise<Position | undefined>;
  /**
   * Record `position`. `touched`: the keys of `position.known` that may have changed since the last
   * save (added, replaced or removed); undefined means any of them (write everything).
   */
  save(position: Position, touched?: readonly string[]): Promise<void>;
}

/** How a state file is named in messages, and the fixes offered. */
interface Wording {
  /** "the watch position in FILE" */
  what: string;
  unreadable: string;
  corrupt: string;
  unwritable: string;
}

const stateFileWording = (file: string): Wording => ({
  what: `the watch position in ${file}`,
  unreadable: 'make it readable, or pass another --state FILE',
  corrupt:
    `move it aside and run \`syncer watch --from-start --state ${file}\` to deliver every advertisement present again ` +
    '(those already acted on included), or delete it to watch from now on',
  unwritable: 'pass a writable --state FILE',
});

const isRevision = (r: unknown): r is string => typeof r === 'string' && /^\d+$/.test(r);
const isEntry = (e: unknown): e is Known[string] =>
  !!e && typeof e === 'object' && isRevision((e as Known[string]).rev) && typeof (e as Known[string]).commit === 'string';

function validKnown(k: unknown): Known | undefined {
  if (!k || typeof k !== 'object' || Array.isArray(k)) return undefined;
  return Object.values(k).every(isEntry) ? (k as Known) : undefined;
}

/** The default state file: one per registry, namespace and filter. */
export function defaultStateFile(dataDir: string, registryId: string, filter: Filter): string {
  const id = createHash('sha256')
    .update(JSON.stringify([registryId, [...filter.hubs].sort(), [...filter.operators].sort()]))
    .digest('hex')
    .slice(0, 16);
  return join(dataDir, 'watch', `${id}.json`);
}

/** This machine's copy of the position of watch group `group`: one per registry, namespace and group. */
export function groupCopyFile(dataDir: string, registryId: string, group: string): string {
  const id = createHash('sha256')
    .update(JSON.stringify([registryId, 'group', group]))
    .digest('hex')
    .slice(0, 16);
  return join(dataDir, 'watch', `group-${id}.json`);
}

/** What changed in `known` for the keys `touched`: entries to set, keys to delete. */
function changes(known: Known, touched: readonly string[]): { set: Known; del: string[] } {
  const set: Known = {};
  const del: string[] = [];
  for (const key of touched) {
    const entry = known[key];
    if (entry) set[key] = entry;
    else del.push(key);
  }
  return { set, del };
}

/** A position's cluster ID and highest revision seen, from whatever record holds them. */
function extras(rec: { cluster?: unknown; seen?: unknown }): Pick<Position, 'cluster' | 'seen'> {
  return {
    ...(typeof rec.cluster === 'string' && rec.cluster !== '' ? { cluster: rec.cluster } : {}),
    ...(isRevision(rec.seen) ? { seen: rec.seen } : {}),
  };
}

/**
 * Replace `file` with `text` so that a crash (or a full disk) leaves the old file or the new one,
 * never half of one: a temporary file beside it, flushed to disk, then renamed over it.
 */
function writeAtomically(file: string, text: string): void {
  const tmp = `${file}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd); // else a power loss after the rename can leave an empty file
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Temporary files a killed watcher left beside `file` (never renamed: the file itself is whole). */
function removeStaleTmp(file: string): void {
  const prefix = `${basename(file)}.`;
  try {
    for (const name of readdirSync(dirname(file))) {
      if (name.startsWith(prefix) && /^[0-9a-f]{8}\.tmp$/.test(name.slice(prefix.length))) rmSync(join(dirname(file), name), { force: true });
    }
  } catch {
    /* best effort: they are only litter */
  }
}

/**
 * The snapshot in `file`, or undefined when there is none. Anything else that is not a position
 * (unreadable, truncated, garbage) is refused: taking it as "no position" would start from now
 * and silently skip what was published while the watcher was stopped.
 */
function readSnapshot(file: string, wording: Wording): { seq: number; revision: string; known: Known; cluster?: unknown; seen?: unknown } | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw usageError(`cannot read ${wording.what}: ${code ?? (e as Error).message}`, wording.unreadable);
  }
  const refuse = (why: string) =>
    usageError(`${wording.what} is corrupt (${why}); refusing to guess where to resume, which could skip events`, wording.corrupt);
  let parsed: { seq?: unknown; revision?: unknown; known?: unknown; cluster?: unknown; seen?: unknown };
  try {
    parsed = JSON.parse(text);
  } catch {
    throw refuse(text.trim() === '' ? 'empty' : 'not JSON: truncated or overwritten');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) throw refuse('not a JSON object');
  if (!isRevision(parsed.revision)) throw refuse('no revision');
  const known = validKnown(parsed.known);
  if (!known) throw refuse('no valid list of known advertisements');
  return { ...parsed, seq: typeof parsed.seq === 'number' ? parsed.seq : 0, revision: parsed.revision, known };
}

/** A file store's bookkeeping between calls. */
interface FileState {
  file: string;
  wording: Wording;
  journal: string;
  /** Of the last save. */
  seq: number;
  /** Loaded or written by this process: the journal has a base. */
  haveSnapshot: boolean;
  journalLines: number;
  knownSize: number;
}

export function fileStore(file: string, wording: Wording = stateFileWording(file)): PositionStore {
  const state: FileState = { file, wording, journal: `${file}.journal`, seq: 0, haveSnapshot: false, journalLines: 0, knownSize: 0 };
  return {
    describe: file,
    load: async () => loadFromFile(state),
    save: async (position, touched) => saveToFile(state, position, touched),
  };
}

function loadFromFile(state: FileState): Position | undefined {
  const parsed = readSnapshot(state.file, state.wording);
  if (!parsed) return undefined;
  removeStaleTmp(state.file);
  const position: Position = { revision: parsed.revision, known: parsed.known, ...extras(parsed) };
  state.seq = parsed.seq;
  state.haveSnapshot = true;
  replayJournal(state, position, readJournal(state.journal));
  state.knownSize = Object.keys(position.known).length;
  return position;
}

function readJournal(journal: string): string[] {
  try {
    return readFileSync(journal, 'utf8').split('\n');
  } catch {
    return []; // no journal
  }
}

interface JournalRecord {
  seq: number;
  revision: string;
  set: Known;
  del: unknown[];
  cluster?: unknown;
  seen?: unknown;
}

/** Apply to `position` the journal's records saved after the snapshot, up to the first that does not read. */
function replayJournal(state: FileState, position: Position, lines: string[]): void {
  for (const line of lines) {
    const rec = journalRecord(line, state.seq);
    if (rec === 'skip') continue;
    if (rec === 'stop') {
      // What follows would be ignored by every later load too: the next save writes a snapshot,
      // so that the journal starts again from a clean base.
      state.haveSnapshot = false;
      break;
    }
    Object.assign(position.known, rec.set);
    for (const key of rec.del) if (typeof key === 'string') delete position.known[key];
    position.revision = rec.revision;
    Object.assign(position, extras(rec));
    state.seq = rec.seq;
    state.journalLines += 1;
  }
}

/** One journal line: a record to apply, one to skip (blank, or older than `seq`), or where replay stops. */
function journalRecord(line: string, seq: number): JournalRecord | 'skip' | 'stop' {
  if (line.trim() === '') return 'skip';
  let rec: { seq?: unknown; revision?: unknown; set?: unknown; del?: unknown; cluster?: unknown; seen?: unknown };
  try {
    rec = JSON.parse(line);
  } catch {
    return 'stop'; // a line torn by a crash (the last one)
  }
  if (typeof rec.seq !== 'number' || rec.seq <= seq) return 'skip';
  const set = validKnown(rec.set);
  // Stopping resumes from an older position: events after it are delivered again, never skipped.
  if (!isRevision(rec.revision) || !set || !Array.isArray(rec.del)) return 'stop';
  return { ...rec, seq: rec.seq, revision: rec.revision, set, del: rec.del };
}

function saveToFile(state: FileState, position: Position, touched: readonly string[] | undefined): void {
  state.seq += 1;
  try {
    // Rewrite the snapshot when asked to, or when the journal has grown past the snapshot's size.
    if (!touched || !state.haveSnapshot || state.journalLines >= Math.max(1000, state.knownSize)) writeSnapshot(state, position);
    else appendJournal(state, position, touched);
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
    throw usageError(`cannot write ${state.wording.what}: ${why}`, state.wording.unwritable);
  }
}

function writeSnapshot(state: FileState, position: Position): void {
  makeDirs(dirname(state.file), 0o700);
  writeAtomically(state.file, JSON.stringify({ seq: state.seq, revision: position.revision, known: position.known, ...extras(position) }));
  // Journal lines are numbered: those of an older snapshot are ignored if this removal is lost.
  rmSync(state.journal, { force: true });
  state.haveSnapshot = true;
  state.journalLines = 0;
  state.knownSize = Object.keys(position.known).length;
}

function appendJournal(state: FileState, position: Position, touched: readonly string[]): void {
  const { set, del } = changes(position.known, touched);
  makeDirs(dirname(state.file), 0o700);
  appendFileSync(state.journal, `${JSON.stringify({ seq: state.seq, revision: position.revision, set, del, ...extras(position) })}\n`);
  state.journalLines += 1;
}

/**
 * The position of a --group in etcd. `leader` guards every write: the position is written only
 * while the leader's election key (bound to its lease) still exists, so a leader that lost its
 * lease (paused, cut off) can never overwrite the position of the one that took over.
 */
export function groupStore(
  registry: Registry,
  group: string,
  leader: { key: string; onLost: () => void },
  local?: { file: string; warn: (message: string) => void },
): PositionStore {
  const positionKey = registry.keys.watchGroup(group).position;
  const copy = local ? fileStore(local.file, groupCopyWording(local.file, group, positionKey)) : undefined;
  // A position taken from the copy is written to etcd whole (etcd lost it) at the first save.
  let wholeEtcd = false;
  return {
    describe: positionKey,
    load: async () => {
      const { position, from } = await loadFromGroup(registry, group, positionKey, copy, local);
      wholeEtcd = from === 'copy';
      return position;
    },
    save: async (position, touched) => {
      await writeGroupState(registry, group, leader, groupWrites(position, wholeEtcd ? undefined : touched));
      wholeEtcd = false;
      await copy?.save(position, touched);
    },
  };
}

const groupCopyWording = (file: string, group: string, positionKey: string): Wording => ({
  what: `the copy of the position of watch group ${group} in ${file}`,
  unreadable: 'make it readable, or move it aside',
  corrupt:
    `move it aside: the group then resumes from its position in etcd (${positionKey}), or, if that is gone too (etcd wiped), ` +
    'from now on (add --from-start to deliver every advertisement present again)',
  unwritable: `make ${dirname(file)} writable: the copy is what saves the group's position if etcd is wiped`,
});

/**
 * The group's position in etcd; when it is gone, this machine's copy of it, taken as the position
 * of a registry that was replaced (every known entry at revision '0': re-listed, and recognised by
 * key and commit). The copy is read either way: a corrupt one is refused, never overwritten.
 */
async function loadFromGroup(
  registry: Registry,
  group: string,
  positionKey: string,
  copy: PositionStore | undefined,
  local: { file: string; warn: (message: string) => void } | undefined,
): Promise<{ position?: Position; from?: 'etcd' | 'copy' }> {
  const [text, kept] = await Promise.all([registry.readWatchPosition(group), copy?.load()]);
  if (text !== undefined) {
    const { revision, ...found } = parseGroupPosition(text, group, positionKey);
    const position = { revision, known: await readGroupKnown(registry, group), ...found };
    // The copy is rewritten from etcd's position at once: another machine may have led since.
    await copy?.save(position);
    return { position, from: 'etcd' };
  }
  if (!kept || !local) return {};
  const now = await registry.header();
  local.warn(
    `the position of watch group ${group} is gone from etcd at ${registry.hosts.join(', ')} (${positionKey}; wiped or restored?), ` +
      `but this machine kept a copy (${local.file}, revision ${kept.revision}): re-listing every advertisement ` +
      '(those delivered before with the same commit are not delivered again)',
  );
  rebase(kept, now);
  return { position: kept, from: 'copy' };
}

/** Like a state file: a position that cannot be read is refused, never taken for "none". */
function parseGroupPosition(text: string, group: string, positionKey: string): Omit<Position, 'known'> {
  const corrupt = (why: string) =>
    usageError(
      `the position of watch group ${group} in etcd (${positionKey}) is corrupt (${why}); refusing to guess where to resume, which could skip events`,
      `delete that key (etcdctl del ${positionKey}): the group then resumes from the copy of its position that a machine which led it ` +
        'kept (re-listing), or else from now on; add --from-start to deliver every advertisement present again',
    );
  let parsed: { revision?: unknown; cluster?: unknown; seen?: unknown };
  try {
    parsed = JSON.parse(text);
  } catch {
    throw corrupt('not JSON');
  }
  if (!parsed || !isRevision(parsed.revision)) throw corrupt('no revision');
  return { revision: parsed.revision, ...extras(parsed) };
}

async function readGroupKnown(registry: Registry, group: string): Promise<Known> {
  const known: Known = {};
  for await (const entry of registry.readWatchKnown(group)) {
    try {
      const value = JSON.parse(entry.value);
      if (isEntry(value)) known[entry.key] = { rev: value.rev, commit: value.commit, ...(typeof value.at === 'string' ? { at: value.at } : {}) };
    } catch {
      /* an entry that does not parse is not known: at worst acted on again */
    }
  }
  return known;
}

/** The position's value, and the known entries to write (undefined: delete). */
interface GroupWrite {
  value: string;
  known: [string, string | undefined][];
  /** The old entries go first. */
  replace?: boolean;
}

function groupWrites(position: Position, touched: readonly string[] | undefined): GroupWrite {
  const value = JSON.stringify({ revision: position.revision, ...extras(position) });
  if (touched) {
    const { set, del } = changes(position.known, touched);
    const entries = Object.entries(set).map(([key, entry]): [string, string] => [key, JSON.stringify(entry)]);
    return { value, known: [...entries, ...del.map((key): [string, undefined] => [key, undefined])] };
  }
  // Everything: the old entries go, then the new ones, the position last.
  return { value, known: Object.entries(position.known).map(([key, entry]): [string, string] => [key, JSON.stringify(entry)]), replace: true };
}

/** Written only while `leader` leads. */
async function writeGroupState(registry: Registry, group: string, leader: { key: string; onLost: () => void }, w: GroupWrite): Promise<void> {
  if (!(await registry.saveWatchState(group, leader.key, w.value, w.known, w.replace))) {
    leader.onLost();
    throw new SyncerError('REGISTRY', `no longer the leader of watch group ${group}: its position was left to the new leader`);
  }
}
