/**
 * `syncer watch` end to end: the real binary as a long-running child, real etcd (the suite's, or a
 * dedicated one where the test compacts, stops or restarts it), real syncs by other operators
 * (dates moved with libfaketime), and an --exec command that records what it was given so that
 * "acted on once" can be counted.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, git, World, type Operator } from '../helpers/world.js';
import { killWatchers, startWatcher, type WatcherProcess, type WatchEvent } from '../helpers/watcher.js';
import { startCluster, type Cluster } from '../helpers/etcd.js';

afterAll(() => killWatchers());

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * The --exec command: appends what it was given (SYNCER_* env, argv, the files at SYNCER_PATH) as
 * one JSON line to $WATCH_RECORD, prints a marker on stdout and stderr (both must end up on the
 * watcher's stderr), exits 1 for events of $WATCH_FAIL_DATE, and takes its time for events of
 * $WATCH_SLOW_DATE (announcing "exec-started" first).
 */
const RECORD_SCRIPT = `
import { appendFileSync, existsSync, readdirSync } from 'node:fs';
const e = process.env;
if (e.WATCH_SLOW_DATE && e.SYNCER_DATE === e.WATCH_SLOW_DATE) {
  console.error('exec-started ' + e.SYNCER_EVENT_ID);
  await new Promise((r) => setTimeout(r, 2500));
}
const record = {
  name: e.WATCH_NAME, id: e.SYNCER_EVENT_ID, type: e.SYNCER_EVENT_TYPE, hub: e.SYNCER_HUB, date: e.SYNCER_DATE,
  operator: e.SYNCER_OPERATOR, commit: e.SYNCER_COMMIT ?? null, path: e.SYNCER_PATH ?? null,
  files: e.SYNCER_PATH && existsSync(e.SYNCER_PATH) ? readdirSync(e.SYNCER_PATH).sort() : null,
  args: process.argv.slice(2),
};
appendFileSync(e.WATCH_RECORD, JSON.stringify(record) + '\\n');
console.log('exec-stdout-marker ' + e.SYNCER_EVENT_ID);
console.error('exec-stderr-marker ' + e.SYNCER_EVENT_ID);
if (e.WATCH_FAIL_DATE && e.SYNCER_DATE === e.WATCH_FAIL_DATE) process.exit(1);
`;

interface ExecRecord {
  name?: string;
  id: string;
  type: string;
  hub: string;
  date: string;
  operator: string;
  commit: string | null;
  path: string | null;
  files: string[] | null;
  args: string[];
}

function recordScript(world: World): string {
  const file = join(world.root, 'record.mjs');
  if (!existsSync(file)) writeFileSync(file, RECORD_SCRIPT);
  return file;
}

const records = (file: string): ExecRecord[] =>
  existsSync(file)
    ? readFileSync(file, 'utf8')
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as ExecRecord)
    : [];

function etcdctl(world: World, ...args: string[]): string {
  return execFileSync('etcdctl', ['--endpoints', world.etcdHosts, '--dial-timeout=2s', '--command-timeout=5s', ...args], {
    encoding: 'utf8',
    env: { ...process.env, ETCDCTL_API: '3' },
  });
}

const datasetKey = (world: World, hub: string, date: string, operator: string) => `${world.namespace}datasets/${hub}/${date}/${operator}`;

/** The mod revision of a key, and the event id a watcher prints for it. */
function currentId(world: World, key: string): string {
  const out = JSON.parse(etcdctl(world, 'get', key, '-w', 'json')) as { kvs?: { mod_revision: number }[] };
  if (!out.kvs?.length) throw new Error(`${key} is not in etcd`);
  return `${key}@${out.kvs[0]!.mod_revision}`;
}

/** Remove a key with etcdctl; returns the id of the delete event (key@revision of the delete). */
function remove(world: World, key: string): string {
  const out = JSON.parse(etcdctl(world, 'del', key, '-w', 'json')) as { header: { revision: number }; deleted?: number };
  expect(out.deleted, `${key} should have existed`).toBe(1);
  return `${key}@${out.header.revision}`;
}

interface Synced {
  key: string;
  id: string;
  commit: string;
  date: string;
}

let seq = 0;
/** `op` syncs `hub` at a faked time (UTC), with fresh content; returns the key, event id and commit. */
async function sync(world: World, op: Operator, hub: string, at: string, files?: Record<string, string>): Promise<Synced> {
  seq += 1;
  op.write(files ?? { [`${hub}/data.csv`]: `n,at\n${seq},${at}\n` });
  const r = await op.syncer(['sync', '--hub', hub, '--json'], { at, env: { TZ: 'UTC' } });
  expect(r.code, r.stderr).toBe(0);
  const out = JSON.parse(r.stdout) as { date: string; commit: string };
  expect(out.date).toBe(at.slice(0, 10));
  const key = datasetKey(world, hub, out.date, op.name);
  return { key, id: currentId(world, key), commit: out.commit, date: out.date };
}

/**
 * The revision saved in a --state file: its snapshot ({seq, revision, known}), then the lines of
 * FILE.journal ({seq, revision, set, del}) newer than the snapshot.
 */
function savedRevision(stateFile: string): bigint {
  const snapshot = JSON.parse(readFileSync(stateFile, 'utf8')) as { seq?: number; revision: string };
  let revision = BigInt(snapshot.revision);
  const journal = `${stateFile}.journal`;
  if (existsSync(journal)) {
    for (const line of readFileSync(journal, 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const rec = JSON.parse(line) as { seq: number; revision: string };
      if (rec.seq > (snapshot.seq ?? 0)) revision = BigInt(rec.revision);
    }
  }
  return revision;
}

/** Wait until a --state file says the watcher handled everything up to `id`'s revision. */
async function caughtUp(w: WatcherProcess, stateFile: string, id: string): Promise<void> {
  const rev = BigInt(id.slice(id.lastIndexOf('@') + 1));
  await w.waitUntil(`the position in ${stateFile} to reach ${rev}`, () => savedRevision(stateFile) >= rev - 1n);
}

const ids = (events: { id: string }[]) => events.map((e) => e.id);

describe('events, filters and actions', () => {
  let world: World;
  let a: Operator;
  let b: Operator;
  let w: Operator;
  let script: string;
  let before: Synced;
  let eventsLog: string;
  let firstEvents: WatchEvent[];

  beforeAll(async () => {
    world = new World(inject('etcdHosts'));
    [a, b, w] = await Promise.all([world.operator('lab-a'), world.operator('lab-b'), world.operator('lab-w')]);
    script = recordScript(world);
    before = await sync(world, a, 'weather', '2026-01-01 12:00:00');
  });
  afterAll(() => world.cleanup());

  it(
    'prints one event per new or replaced advertisement of another operator and per removal, from now on; --exec gets the event in its env, without ' +
      'a shell',
    async () => {
      const recordFile = join(world.root, 'exec-1.jsonl');
      eventsLog = join(world.root, 'events.jsonl');
      const state = join(world.root, 'state-1.json');
      const watcher = startWatcher(w, ['--state', state, '--events-log', eventsLog, '--exec', '--', process.execPath, script, 'two words', '$HOME', '*'], {
        env: { WATCH_RECORD: recordFile },
      });
      await watcher.waitForStderr(/watching .* from revision \d+/);

      const first = await sync(world, a, 'weather', '2026-01-02 09:00:00');
      const second = await sync(world, a, 'weather', '2026-01-02 15:00:00'); // same day: replaces the entry
      expect(second.key).toBe(first.key);
      expect(second.commit).not.toBe(first.commit);
      const removal = remove(world, first.key);
      const oldRemoval = remove(world, before.key); // known from the first start's listing
      const events = await watcher.waitForEvents(4);
      await caughtUp(watcher, state, oldRemoval);
      expect(await watcher.stop('SIGTERM')).toBe(130);

      // Exactly these, in order; no put for the advertisement that existed before the first start.
      expect(ids(watcher.events)).toEqual([first.id, second.id, removal, oldRemoval]);
      expect(watcher.events.filter((e) => e.id.startsWith(before.key)).map((e) => e.type)).toEqual(['delete']);
      const [put1, put2, del] = events as [WatchEvent, WatchEvent, WatchEvent];
      expect(put1).toMatchObject({ type: 'put', hub: 'weather', date: '2026-01-02', operator: 'lab-a', commit: first.commit, exec: { code: 0, attempts: 1 } });
      expect(put1.revision).toBe(first.id.split('@')[1]);
      expect(put1.syncedAt).toMatch(/^2026-01-02T09:00/);
      expect(put1.error).toBeUndefined();
      expect(put2).toMatchObject({ type: 'put', date: '2026-01-02', operator: 'lab-a', commit: second.commit });
      expect(put2.syncedAt).toMatch(/^2026-01-02T15:00/);
      expect(BigInt(put2.revision)).toBeGreaterThan(BigInt(put1.revision));
      expect(del).toMatchObject({ type: 'delete', hub: 'weather', date: '2026-01-02', operator: 'lab-a', exec: { code: 0, attempts: 1 } });
      expect(del.commit).toBeUndefined();

      // The command ran once per event, with the event in its env and its arguments passed verbatim.
      const recs = records(recordFile);
      expect(recs.map((r) => r.id)).toEqual(ids(events));
      expect(recs[0]).toEqual({
        id: first.id,
        type: 'put',
        hub: 'weather',
        date: '2026-01-02',
        operator: 'lab-a',
        commit: first.commit,
        path: null,
        files: null,
        args: ['two words', '$HOME', '*'],
      });
      expect(recs[1]).toMatchObject({ id: second.id, commit: second.commit });
      expect(recs[2]).toMatchObject({ id: removal, type: 'delete', commit: null });
      expect(recs[3]).toMatchObject({ id: oldRemoval, type: 'delete', date: '2026-01-01' });
      // stdout is NDJSON only: the command's output went to stderr.
      expect(watcher.garbage).toEqual([]);
      expect(watcher.stdout).not.toMatch(/exec-(stdout|stderr)-marker/);
      expect(watcher.stderr).toContain(`exec-stdout-marker ${first.id}`);
      expect(watcher.stderr).toContain(`exec-stderr-marker ${first.id}`);
      firstEvents = events;
    },
  );

  it('--events-log kept every raw event; --replay runs the actions again over it, removals included', async () => {
    const logged = readFileSync(eventsLog, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { key: string; modRevision: string; type: string });
    expect(logged.map((l) => `${l.key}@${l.modRevision}`)).toEqual(ids(firstEvents));
    expect(logged.map((l) => l.type)).toEqual(['put', 'put', 'delete', 'delete']);

    const recordFile = join(world.root, 'exec-replay.jsonl');
    const r = await w.syncer(['watch', '--replay', eventsLog, '--exec', '--', process.execPath, script], { env: { WATCH_RECORD: recordFile } });
    expect(r.code, r.stderr).toBe(0);
    const replayed = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as WatchEvent);
    expect(ids(replayed)).toEqual(ids(firstEvents));
    expect(replayed.map((e) => e.type)).toEqual(['put', 'put', 'delete', 'delete']);
    expect(replayed.every((e) => e.exec?.code === 0 && e.replay === true)).toBe(true);
    expect(replayed[0]!.commit).toBe(firstEvents[0]!.commit);
    expect(records(recordFile).map((x) => x.id)).toEqual(ids(firstEvents));
    // A replay appends nothing to the log it reads.
    expect(readFileSync(eventsLog, 'utf8').trim().split('\n')).toHaveLength(4);
  });

  it('--hub and --operator filter what is followed', async () => {
    const states = { hub: join(world.root, 'state-hub.json'), op: join(world.root, 'state-op.json'), both: join(world.root, 'state-both.json') };
    const byHub = startWatcher(w, ['--hub', 'soil', '--state', states.hub], { name: 'hub soil' });
    const byOp = startWatcher(w, ['--operator', 'lab-b', '--state', states.op], { name: 'operator lab-b' });
    const both = startWatcher(w, ['--hub', 'weather', '--hub', 'rain', '--operator', 'lab-a', '--state', states.both], {
      name: 'hub weather+rain, operator lab-a',
    });
    await Promise.all([byHub, byOp, both].map((x) => x.waitForStderr(/watching/)));

    const aWeather = await sync(world, a, 'weather', '2026-01-03 12:00:00');
    const bWeather = await sync(world, b, 'weather', '2026-01-03 12:00:00');
    const aSoil = await sync(world, a, 'soil', '2026-01-03 12:00:00');
    const bSoil = await sync(world, b, 'soil', '2026-01-03 12:00:00');
    await Promise.all([caughtUp(byHub, states.hub, bSoil.id), caughtUp(byOp, states.op, bSoil.id), caughtUp(both, states.both, bSoil.id)]);
    expect(await Promise.all([byHub, byOp, both].map((x) => x.stop('SIGINT')))).toEqual([130, 130, 130]);

    expect(ids(byHub.events)).toEqual([aSoil.id, bSoil.id]);
    expect(ids(byOp.events)).toEqual([bWeather.id, bSoil.id]);
    expect(ids(both.events)).toEqual([aWeather.id]);
    expect(byOp.events.map((e) => e.commit)).toEqual([bWeather.commit, bSoil.commit]);
  });

  it('--from-start replays what exists on a first start only', async () => {
    const state = join(world.root, 'state-from-start.json');
    const first = startWatcher(w, ['--from-start', '--hub', 'soil', '--state', state]);
    await first.waitForStderr(/watching/);
    await first.waitForEvents(2);
    expect(await first.stop()).toBe(130);
    const soil = Object.keys(world.etcdGet('datasets/soil/')).sort();
    expect(soil).toHaveLength(2);
    expect(
      ids(first.events)
        .map((id) => id.split('@')[0])
        .sort(),
    ).toEqual(soil);
    expect(first.events.map((e) => e.commit)).toEqual(soil.map((k) => JSON.parse(world.etcdGet(k.slice(world.namespace.length))[k]!).commit));

    // The saved position wins over --from-start: nothing is replayed again.
    const again = startWatcher(w, ['--from-start', '--hub', 'soil', '--state', state]);
    await again.waitForStderr(/watching/);
    expect(await again.stop()).toBe(130);
    expect(again.events).toEqual([]);
  });

  it('--retrieve fetches each new dataset into the import dir and updates it in place on a same-day re-sync; SYNCER_PATH points at it', async () => {
    const recordFile = join(world.root, 'exec-retrieve.jsonl');
    const watcher = startWatcher(
      w,
      ['--retrieve', '--hub', 'maps', '--state', join(world.root, 'state-retrieve.json'), '--exec', '--', process.execPath, script],
      {
        env: { WATCH_RECORD: recordFile },
      },
    );
    await watcher.waitForStderr(/watching/);
    const v1 = await sync(world, a, 'maps', '2026-01-04 09:00:00', { 'maps/grid.csv': 'cell,v\n1,one\n', 'maps/tiles/t1.txt': 'tile 1\n' });
    const [e1] = await watcher.waitForEvents(1, 30_000);
    const target = join(w.importDir, 'maps', '2026-01-04', 'lab-a');
    expect(e1).toMatchObject({
      id: v1.id,
      type: 'put',
      commit: v1.commit,
      retrieved: { target, dataPath: join(target, 'maps'), updated: false },
      exec: { code: 0 },
    });
    expect(readFileSync(join(target, 'maps/grid.csv'), 'utf8')).toBe('cell,v\n1,one\n');
    expect(readFileSync(join(target, 'maps/tiles/t1.txt'), 'utf8')).toBe('tile 1\n');
    expect(git(target, 'rev-parse', 'HEAD')).toBe(v1.commit);

    const v2 = await sync(world, a, 'maps', '2026-01-04 16:00:00', { 'maps/grid.csv': 'cell,v\n1,one\n2,two\n' });
    const [, e2] = await watcher.waitForEvents(2, 30_000);
    expect(e2).toMatchObject({ id: v2.id, commit: v2.commit, retrieved: { target, dataPath: join(target, 'maps'), updated: true } });
    expect(readFileSync(join(target, 'maps/grid.csv'), 'utf8')).toBe('cell,v\n1,one\n2,two\n');
    expect(git(target, 'rev-parse', 'HEAD')).toBe(v2.commit);
    expect(await watcher.stop()).toBe(130);

    // The command ran after the retrieve, with SYNCER_PATH set to the data.
    const recs = records(recordFile);
    expect(recs.map((r) => [r.id, r.path, r.commit])).toEqual([
      [v1.id, join(target, 'maps'), v1.commit],
      [v2.id, join(target, 'maps'), v2.commit],
    ]);
    expect(recs[0]!.files).toEqual(['grid.csv', 'tiles']);
    expect(watcher.garbage).toEqual([]);
  });

  it('a failing --exec is retried with backoff, recorded in the event, and the watcher goes on', async () => {
    const recordFile = join(world.root, 'exec-fail.jsonl');
    const watcher = startWatcher(w, ['--hub', 'flaky', '--state', join(world.root, 'state-fail.json'), '--exec', '--', process.execPath, script], {
      env: { WATCH_RECORD: recordFile, WATCH_FAIL_DATE: '2026-01-05' },
    });
    await watcher.waitForStderr(/watching/);
    const bad = await sync(world, b, 'flaky', '2026-01-05 12:00:00');
    const good = await sync(world, b, 'flaky', '2026-01-06 12:00:00');
    const [e1, e2] = await watcher.waitForEvents(2, 30_000);
    expect(watcher.running).toBe(true);
    expect(await watcher.stop()).toBe(130);

    expect(e1).toMatchObject({ id: bad.id, type: 'put', exec: { code: 1, attempts: 3 } });
    expect(e1!.error).toMatch(/failed after 3 attempt/);
    expect(e2).toMatchObject({ id: good.id, exec: { code: 0, attempts: 1 } });
    expect(e2!.error).toBeUndefined();
    expect(records(recordFile).map((r) => r.id)).toEqual([bad.id, bad.id, bad.id, good.id]);
    expect(watcher.stderr).toMatch(/failed for .*flaky\/2026-01-05\/lab-b.*retrying in \d+ ms/);
  });

  it('SIGTERM while waiting to retry a failing --exec: exit 130 at once, no further attempt, the event left to a restart', async () => {
    const recordFile = join(world.root, 'exec-stop.jsonl');
    const watcher = startWatcher(w, ['--hub', 'stopwait', '--state', join(world.root, 'state-stopwait.json'), '--exec', '--', process.execPath, script], {
      env: { WATCH_RECORD: recordFile, WATCH_FAIL_DATE: '2026-01-13' },
    });
    await watcher.waitForStderr(/watching/);
    const bad = await sync(world, b, 'stopwait', '2026-01-13 12:00:00');
    await watcher.waitForStderr(/failed for .*stopwait.*retrying in \d+ ms/, 30_000);
    expect(await watcher.stop('SIGTERM')).toBe(130);
    expect(records(recordFile).map((r) => r.id)).toEqual([bad.id]);
    expect(watcher.events).toEqual([]);
  });

  it("a syncer run by the --exec command acts as the watcher's operator, not as the event's", async () => {
    const watcher = startWatcher(w, [
      '--hub',
      'whoami',
      '--state',
      join(world.root, 'state-whoami.json'),
      '--exec',
      '--',
      process.execPath,
      BIN,
      'config',
      'get',
      'operator',
    ]);
    await watcher.waitForStderr(/watching/);
    await sync(world, b, 'whoami', '2026-01-12 12:00:00');
    const [e] = await watcher.waitForEvents(1, 30_000);
    expect(await watcher.stop()).toBe(130);
    expect(e).toMatchObject({ operator: 'lab-b', exec: { code: 0 } });
    // The command's stdout is copied to the watcher's stderr.
    expect(watcher.stderr.split('\n')).toContain('lab-w');
    expect(watcher.stderr.split('\n')).not.toContain('lab-b');
  });

  it('a reader that goes away (| head -1): exit 130 without a stack trace, and what it did not get is delivered after a restart', async () => {
    const state = join(world.root, 'state-pipe.json');
    const synced = [];
    for (const at of ['2026-01-09 12:00:00', '2026-01-10 12:00:00', '2026-01-11 12:00:00']) synced.push(await sync(world, b, 'pipe', at));
    // The second event's command takes 2.5 s: the reader is gone by the time that event is printed.
    const args = ['--from-start', '--hub', 'pipe', '--state', state, '--exec', '--', process.execPath, script];
    const env = { WATCH_RECORD: join(world.root, 'exec-pipe.jsonl'), WATCH_SLOW_DATE: '2026-01-10' };
    const first = startWatcher(w, args, { env });
    const [e1] = await first.waitForEvents(1, 30_000);
    first.child.stdout!.destroy();
    expect(await first.exited).toBe(130);
    expect(e1!.id).toBe(synced[0]!.id);
    expect(first.stderr).toMatch(/standard output was closed/);
    expect(first.stderr).not.toMatch(/\n\s+at |Unhandled|node:events/);

    const again = startWatcher(w, args, { env });
    const events = await again.waitForEvents(2, 30_000);
    expect(await again.stop()).toBe(130);
    expect(ids(events)).toEqual([synced[1]!.id, synced[2]!.id]);
  });

  it('--retrieve tries a remote that does not answer again with backoff; a refusal (local changes) is not retried', async () => {
    const v1 = await sync(world, b, 'tides', '2026-01-08 12:00:00', { 'tides/levels.csv': 'h,m\n1,0.4\n' });
    // The remote is gone when the watcher first tries, and back after its first failure.
    const hidden = `${b.remoteDir}.hidden`;
    renameSync(b.remoteDir, hidden);
    const watcher = startWatcher(w, ['--from-start', '--retrieve', '--hub', 'tides', '--state', join(world.root, 'state-tides.json')]);
    try {
      await watcher.waitForStderr(/retrieve of .*tides\/2026-01-08\/lab-b.* failed .*retrying in \d+ ms/, 30_000);
    } finally {
      renameSync(hidden, b.remoteDir);
    }
    const [e1] = await watcher.waitForEvents(1, 30_000);
    const target = join(w.importDir, 'tides', '2026-01-08', 'lab-b');
    expect(e1).toMatchObject({ id: v1.id, commit: v1.commit, retrieved: { target, updated: false, attempts: expect.any(Number) } });
    expect(e1!.retrieved!.attempts).toBeGreaterThanOrEqual(2);
    expect(e1!.error).toBeUndefined();
    expect(readFileSync(join(target, 'tides/levels.csv'), 'utf8')).toBe('h,m\n1,0.4\n');

    // A local change in the checkout: the next version is refused once, kept as it is, and the watcher goes on.
    writeFileSync(join(target, 'tides/levels.csv'), 'my own edit\n');
    const v2 = await sync(world, b, 'tides', '2026-01-08 18:00:00', { 'tides/levels.csv': 'h,m\n1,0.4\n2,0.9\n' });
    const [, e2] = await watcher.waitForEvents(2, 30_000);
    expect(e2).toMatchObject({ id: v2.id });
    expect(e2!.retrieved).toBeUndefined();
    expect(e2!.error).toMatch(/^retrieve failed: refusing to retrieve into .*local modifications/);
    expect(readFileSync(join(target, 'tides/levels.csv'), 'utf8')).toBe('my own edit\n');
    expect(watcher.stderr).not.toMatch(new RegExp(`retrieve of ${v2.id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} failed`));
    expect(watcher.running).toBe(true);
    expect(await watcher.stop()).toBe(130);
    expect(watcher.garbage).toEqual([]);
  });
});

describe('restarts and signals', () => {
  let world: World;
  let a: Operator;
  let b: Operator;
  let w: Operator;
  let script: string;
  const state = () => join(world.root, 'state.json');
  const recordFile = () => join(world.root, 'exec.jsonl');
  const start = () =>
    startWatcher(w, ['--state', state(), '--exec', '--', process.execPath, script], { env: { WATCH_RECORD: recordFile(), WATCH_SLOW_DATE: '2026-02-02' } });
  let acted: string[] = [];

  beforeAll(async () => {
    world = new World(inject('etcdHosts'));
    [a, b, w] = await Promise.all([world.operator('lab-a'), world.operator('lab-b'), world.operator('lab-w')]);
    script = recordScript(world);
  });
  afterAll(() => world.cleanup());

  it('SIGTERM during an action: the action finishes, its event is printed, exit 130', async () => {
    const watcher = start();
    await watcher.waitForStderr(/watching/);
    const d1 = await sync(world, a, 'weather', '2026-02-01 12:00:00');
    await watcher.waitForEvents(1);
    const slow = await sync(world, a, 'weather', '2026-02-02 12:00:00');
    await watcher.waitForStderr(/exec-started/);
    const code = await watcher.stop('SIGTERM');
    expect(code, watcher.describe()).toBe(130);
    expect(watcher.stderr).toMatch(/interrupted/);
    expect(ids(watcher.events)).toEqual([d1.id, slow.id]);
    expect(watcher.events[1]!.exec).toEqual({ code: 0, attempts: 1 });
    expect(records(recordFile()).map((r) => r.id)).toEqual([d1.id, slow.id]);
    acted = [d1.id, slow.id];
  });

  it('a restart with the same --state misses nothing (syncs and a removal made while stopped) and re-runs nothing', async () => {
    const d3 = await sync(world, b, 'weather', '2026-02-03 12:00:00');
    const d4 = await sync(world, a, 'soil', '2026-02-04 12:00:00');
    const removal = remove(world, acted[0]!.split('@')[0]!);
    const watcher = start();
    await watcher.waitForEvents(3);
    await caughtUp(watcher, state(), removal);
    expect(await watcher.stop()).toBe(130);
    expect(ids(watcher.events)).toEqual([d3.id, d4.id, removal]);
    expect(watcher.events[2]).toMatchObject({ type: 'delete', date: '2026-02-01', operator: 'lab-a' });
    // The command ran exactly once per event over both runs.
    expect(records(recordFile()).map((r) => r.id)).toEqual([...acted, d3.id, d4.id, removal]);
  });
});

describe('compaction and etcd restarts (dedicated etcd)', () => {
  let cluster: Cluster;
  let world: World;
  let a: Operator;
  let w: Operator;
  let script: string;
  let watcher: WatcherProcess;
  const state = () => join(world.root, 'state.json');
  const recordFile = () => join(world.root, 'exec.jsonl');
  const start = () => startWatcher(w, ['--state', state(), '--exec', '--', process.execPath, script], { env: { WATCH_RECORD: recordFile() } });

  beforeAll(async () => {
    cluster = await startCluster(1);
    world = new World(cluster.hosts);
    [a, w] = await Promise.all([world.operator('lab-a'), world.operator('lab-w')]);
    script = recordScript(world);
  });
  afterAll(async () => {
    await killWatchers();
    await cluster?.close();
    world?.cleanup();
  });

  it('after a compaction of its saved revision, a restarted watcher re-lists and emits what changed, removals included', async () => {
    const first = start();
    await first.waitForStderr(/watching/);
    const d1 = await sync(world, a, 'weather', '2026-03-01 09:00:00');
    const d2 = await sync(world, a, 'weather', '2026-03-02 09:00:00');
    await first.waitForEvents(2);
    expect(await first.stop()).toBe(130);

    // While stopped: a new advertisement, a replaced one, a removal; then history is compacted away.
    const d3 = await sync(world, a, 'weather', '2026-03-03 09:00:00');
    const d1b = await sync(world, a, 'weather', '2026-03-01 17:00:00');
    expect(d1b.key).toBe(d1.key);
    const removed = remove(world, d2.key);
    const status = JSON.parse(etcdctl(world, 'endpoint', 'status', '-w', 'json')) as { Status: { header: { revision: number } } }[];
    const revision = status[0]!.Status.header.revision;
    etcdctl(world, 'compact', String(revision));
    expect(savedRevision(state())).toBeLessThan(BigInt(revision)); // the saved position is gone from history

    const second = start();
    const events = await second.waitForEvents(3, 30_000);
    expect(second.stderr).toMatch(/re-listing/);
    const byType = (t: string) => events.filter((e) => e.type === t);
    expect(ids(byType('put')).sort()).toEqual([d1b.id, d3.id].sort());
    expect(byType('delete')).toHaveLength(1);
    expect(byType('delete')[0]).toMatchObject({
      id: expect.stringMatching(new RegExp(`^${removed.split('@')[0]}@\\d+$`)),
      date: '2026-03-02',
      operator: 'lab-a',
    });
    expect(events.find((e) => e.id === d1b.id)!.commit).toBe(d1b.commit);
    // ...and goes on watching.
    const d5 = await sync(world, a, 'weather', '2026-03-05 09:00:00');
    await second.waitForEvents(4);
    await caughtUp(second, state(), d5.id);
    expect(await second.stop()).toBe(130);
    expect(ids(second.events)).toEqual([...ids(events), d5.id]);
    // Acted on once each: two before the compaction, four after.
    expect(records(recordFile()).map((r) => r.id)).toEqual([d1.id, d2.id, ...ids(second.events)]);
  });

  it('survives etcd being stopped and restarted under it', async () => {
    watcher = startWatcher(w, ['--state', join(world.root, 'state-restart.json'), '--exec', '--', process.execPath, script], {
      env: { WATCH_RECORD: recordFile() },
    });
    await watcher.waitForStderr(/watching/);
    const before = watcher.events.length;
    await cluster.stop(0);
    await sleep(1500);
    expect(watcher.running, watcher.describe()).toBe(true);
    await cluster.start(0);
    const d4 = await sync(world, a, 'weather', '2026-03-06 09:00:00');
    const e = await watcher.waitForEvent(`put ${d4.id}`, (x) => x.id === d4.id, 30_000);
    expect(e).toMatchObject({ type: 'put', commit: d4.commit, exec: { code: 0 } });
    await caughtUp(watcher, join(world.root, 'state-restart.json'), d4.id);
    expect(watcher.events.length).toBe(before + 1);
    expect(watcher.stderr).toMatch(/lost the connection to etcd/);
  });

  it('notices a silent network loss (etcd frozen) by gRPC keepalive, and goes on when it is back', async () => {
    expect(watcher.running, watcher.describe()).toBe(true);
    const warnings = (watcher.stderr.match(/lost the connection to etcd/g) ?? []).length;
    const frozenAt = Date.now();
    cluster.freeze(0);
    try {
      await watcher.waitUntil(
        'a new "lost the connection" warning',
        () => (watcher.stderr.match(/lost the connection to etcd/g) ?? []).length > warnings,
        20_000,
      );
    } finally {
      cluster.thaw(0);
    }
    expect(Date.now() - frozenAt).toBeLessThan(15_000);
    const d7 = await sync(world, a, 'weather', '2026-03-07 09:00:00');
    const e = await watcher.waitForEvent(`put ${d7.id}`, (x) => x.id === d7.id, 30_000);
    expect(e).toMatchObject({ type: 'put', commit: d7.commit });
    expect(await watcher.stop()).toBe(130);
    // Every event of this watcher's life was acted on exactly once.
    const acted = records(recordFile()).map((r) => r.id);
    expect(new Set(acted).size).toBe(acted.length);
    expect(acted.slice(-watcher.events.length)).toEqual(ids(watcher.events));
  });
});

describe('--group: one leader acts, another takes over', () => {
  let world: World;
  let a: Operator;
  let w: Operator;
  let script: string;
  let recordFile: string;
  let w2: WatcherProcess;
  const member = (name: string) =>
    startWatcher(w, ['--group', 'g', '--exec', '--', process.execPath, script], {
      name,
      env: { WATCH_RECORD: recordFile, WATCH_NAME: name, SYNCER_WATCH_LEASE_TTL: '2' },
    });
  const acted = () => records(recordFile).map((r) => [r.name, r.id]);

  beforeAll(async () => {
    world = new World(inject('etcdHosts'));
    [a, w] = await Promise.all([world.operator('lab-a'), world.operator('lab-w')]);
    script = recordScript(world);
    recordFile = join(world.root, 'exec.jsonl');
  });
  afterAll(() => world.cleanup());

  it('only the leader acts; when it dies the other takes over within the lease time, from where it stopped', async () => {
    const w1 = member('w1');
    await w1.waitForStderr(/leading watch group g/);
    await w1.waitForStderr(/watching/);
    w2 = member('w2');
    await w2.waitForStderr(/waiting to lead watch group g/);

    const d1 = await sync(world, a, 'weather', '2026-04-01 12:00:00');
    await w1.waitForEvents(1);
    // The group's position (in etcd, written by the leader) has recorded the action.
    const knownKey = `watch/groups/g/known/datasets/weather/2026-04-01/lab-a`;
    await w1.waitUntil('the group position to know the event', () => {
      const v = world.etcdGet(knownKey)[world.namespace + knownKey];
      const position = world.etcdGet('watch/groups/g/position')[`${world.namespace}watch/groups/g/position`];
      return !!v && !!position && JSON.parse(v).rev === d1.id.split('@')[1] && BigInt(JSON.parse(position).revision) >= BigInt(d1.id.split('@')[1]!) - 1n;
    });
    expect(w2.events).toEqual([]);
    expect(w2.stderr).not.toMatch(/leading watch group/);

    const killedAt = Date.now();
    await w1.kill();
    const d2 = await sync(world, a, 'weather', '2026-04-02 12:00:00');
    await w2.waitForStderr(/leading watch group g/, 15_000);
    const [e2] = await w2.waitForEvents(1, 15_000);
    const takeoverMs = Date.now() - killedAt;
    expect(e2).toMatchObject({ id: d2.id, exec: { code: 0 } });
    expect(takeoverMs).toBeLessThan(12_000);

    expect(ids(w1.events)).toEqual([d1.id]);
    expect(ids(w2.events)).toEqual([d2.id]);
    expect(acted()).toEqual([
      ['w1', d1.id],
      ['w2', d2.id],
    ]);
  });

  it('a leader paused past its lease does not act when it wakes up; the one that took over does', async () => {
    expect(w2.running, w2.describe()).toBe(true);
    const w3 = member('w3');
    await w3.waitForStderr(/waiting to lead watch group g/);
    const before = acted();
    w2.child.kill('SIGSTOP');
    try {
      await w3.waitForStderr(/leading watch group g/, 15_000);
      const d3 = await sync(world, a, 'weather', '2026-04-03 12:00:00');
      await w3.waitForEvents(1, 15_000);
      expect(ids(w3.events)).toEqual([d3.id]);
    } finally {
      w2.child.kill('SIGCONT');
    }
    // Woken up, w2 finds it no longer leads (its lease expired), acts on nothing, and campaigns again.
    await w2.waitForStderr(/lost the leadership of group g/, 15_000);
    await w2.waitForStderr(/waiting to lead watch group g[\s\S]*waiting to lead watch group g/, 15_000);
    const d4 = await sync(world, a, 'weather', '2026-04-04 12:00:00');
    await w3.waitForEvents(2, 15_000);
    expect(await w3.stop()).toBe(130);
    expect(await w2.stop()).toBe(130);
    expect(ids(w2.events)).toHaveLength(1); // only d2, from the first test
    expect(acted().slice(before.length)).toEqual([
      ['w3', w3.events[0]!.id],
      ['w3', d4.id],
    ]);
  });
});
