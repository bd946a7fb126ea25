import { afterAll, describe, expect, it } from 'vitest';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keys } from '../../src/core/keys.js';
import { backoffMs, diffKnown, eventId, execEnv, matches } from '../../src/commands/watch/events.js';
import { fileStore } from '../../src/commands/watch/state.js';

const k = keys('ns/');
const key = (hub: string, date: string, operator: string) => k.dataset({ hub, date, operator });
const all = { hubs: [], operators: [] };

describe('watch filter', () => {
  const id = { hub: 'weather', date: '2026-11-22', operator: 'lab-a' };
  it('matches everything without --hub/--operator', () => expect(matches(all, id)).toBe(true));
  it('matches any of the given hubs and any of the given operators (both must hold)', () => {
    expect(matches({ hubs: ['soil', 'weather'], operators: [] }, id)).toBe(true);
    expect(matches({ hubs: ['soil'], operators: [] }, id)).toBe(false);
    expect(matches({ hubs: [], operators: ['lab-b', 'lab-a'] }, id)).toBe(true);
    expect(matches({ hubs: ['weather'], operators: ['lab-b'] }, id)).toBe(false);
    expect(matches({ hubs: ['weather'], operators: ['lab-a'] }, id)).toBe(true);
  });
});

describe('event ids', () => {
  it('are key@modRevision', () => expect(eventId('ns/datasets/h/2026-01-01/o', '42')).toBe('ns/datasets/h/2026-01-01/o@42'));
});

describe('diffKnown: what changed between what a watcher knew and a fresh listing', () => {
  const a = key('weather', '2026-01-01', 'lab-a');
  const b = key('weather', '2026-01-02', 'lab-b');
  const c = key('soil', '2026-01-03', 'lab-a');
  const gone = key('weather', '2026-01-04', 'lab-a');
  const known = { [a]: { rev: '10', commit: 'c1' }, [b]: { rev: '11', commit: 'c2' }, [gone]: { rev: '12', commit: 'c3' } };
  const current = new Map([
    [a, { value: 'A', modRevision: '10' }], // unchanged
    [b, { value: 'B2', modRevision: '20' }], // replaced
    [c, { value: 'C', modRevision: '21' }], // new
    ['ns/datasets/bad key', { value: 'X', modRevision: '22' }], // malformed: ignored
  ]);

  it('reports new and replaced keys as puts with their value, and vanished keys as deletes at the listing revision', () => {
    expect(diffKnown(k, all, known, current, '30')).toEqual([
      { type: 'put', key: b, id: { hub: 'weather', date: '2026-01-02', operator: 'lab-b' }, modRevision: '20', value: 'B2' },
      { type: 'put', key: c, id: { hub: 'soil', date: '2026-01-03', operator: 'lab-a' }, modRevision: '21', value: 'C' },
      { type: 'delete', key: gone, id: { hub: 'weather', date: '2026-01-04', operator: 'lab-a' }, modRevision: '30' },
    ]);
  });

  it('only reports keys of the filter', () => {
    expect(diffKnown(k, { hubs: ['soil'], operators: [] }, known, current, '30').map((ch) => ch.key)).toEqual([c]);
    expect(diffKnown(k, { hubs: [], operators: ['lab-a'] }, known, current, '30').map((ch) => [ch.type, ch.key])).toEqual([
      ['put', c],
      ['delete', gone],
    ]);
  });

  it('reports nothing when nothing changed, and everything on a first listing', () => {
    const same = new Map(Object.entries(known).map(([kk, v]) => [kk, { value: 'v', modRevision: v.rev }]));
    expect(diffKnown(k, all, known, same, '30')).toEqual([]);
    expect(diffKnown(k, all, {}, current, '30').map((ch) => ch.key)).toEqual([a, b, c]);
  });
});

describe('the environment of an --exec command', () => {
  const base = { id: 'ns/datasets/h/2026-01-01/o@7', type: 'put', hub: 'h', date: '2026-01-01', operator: 'o' };
  it('carries the event', () => {
    expect(execEnv({ ...base, commit: 'abc', dataPath: '/imports/h/2026-01-01/o/h' })).toEqual({
      SYNCER_EVENT_ID: base.id,
      SYNCER_EVENT_TYPE: 'put',
      SYNCER_HUB: 'h',
      SYNCER_DATE: '2026-01-01',
      SYNCER_OPERATOR: 'o',
      SYNCER_COMMIT: 'abc',
      SYNCER_PATH: '/imports/h/2026-01-01/o/h',
    });
  });
  it('leaves out SYNCER_COMMIT and SYNCER_PATH when there are none (a removal, no --retrieve)', () => {
    const env = execEnv({ ...base, type: 'delete' });
    expect(env.SYNCER_EVENT_TYPE).toBe('delete');
    expect('SYNCER_COMMIT' in env).toBe(false);
    expect('SYNCER_PATH' in env).toBe(false);
  });
});

describe('retry backoff', () => {
  it('doubles from 0.5 s and is capped', () => {
    expect([1, 2, 3, 4].map((n) => backoffMs(n))).toEqual([500, 1000, 2000, 4000]);
    expect(backoffMs(20)).toBe(10_000);
    expect(backoffMs(3, 100, 250)).toBe(250);
  });
});

describe('the --state file: a snapshot and a journal of what each save changed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncer-watch-state-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const a = key('weather', '2026-01-01', 'lab-a');
  const b = key('weather', '2026-01-02', 'lab-b');

  it('has no position before the first save, and round-trips saves through the journal', async () => {
    const file = join(dir, 'one.json');
    const store = fileStore(file);
    expect(await store.load()).toBeUndefined();
    const position = { revision: '10', known: { [a]: { rev: '5', commit: 'c1' } } };
    await store.save(position); // everything: a snapshot
    position.known[b] = { rev: '11', commit: 'c2' };
    position.revision = '10';
    await store.save(position, [b]);
    delete position.known[a];
    position.revision = '11';
    await store.save(position, [a]);
    expect(readFileSync(`${file}.journal`, 'utf8').trim().split('\n')).toHaveLength(2);
    // The snapshot was not rewritten: a save costs one line, whatever the number of keys.
    expect(JSON.parse(readFileSync(file, 'utf8')).known).toEqual({ [a]: { rev: '5', commit: 'c1' } });
    expect(await fileStore(file).load()).toEqual({ revision: '11', known: { [b]: { rev: '11', commit: 'c2' } } });
  });

  it('writes a snapshot first when there is none yet, whatever the save', async () => {
    const file = join(dir, 'first.json');
    await fileStore(file).save({ revision: '3', known: { [a]: { rev: '2', commit: '' } } }, [a]);
    expect(existsSync(`${file}.journal`)).toBe(false);
    expect(await fileStore(file).load()).toEqual({ revision: '3', known: { [a]: { rev: '2', commit: '' } } });
  });

  it('ignores a line torn by a crash, and journal lines older than the snapshot', async () => {
    const file = join(dir, 'torn.json');
    const store = fileStore(file);
    const position = { revision: '10', known: {} as Record<string, { rev: string; commit: string }> };
    await store.save(position);
    position.known[a] = { rev: '11', commit: 'c1' };
    position.revision = '10';
    await store.save(position, [a]);
    appendFileSync(`${file}.journal`, '{"seq":9,"revision":"12","set":{"x');
    expect(await fileStore(file).load()).toEqual({ revision: '10', known: { [a]: { rev: '11', commit: 'c1' } } });
    // A snapshot whose journal could not be removed: the old lines (lower seq) do not apply.
    const snap = JSON.parse(readFileSync(file, 'utf8'));
    writeFileSync(file, JSON.stringify({ ...snap, seq: 5, revision: '20', known: {} }));
    expect(await fileStore(file).load()).toEqual({ revision: '20', known: {} });
  });

  it('rewrites the snapshot once the journal is long, and resumes numbering after a load', async () => {
    const file = join(dir, 'long.json');
    const store = fileStore(file);
    const position = { revision: '1', known: {} as Record<string, { rev: string; commit: string }> };
    await store.save(position);
    for (let i = 0; i < 1001; i++) {
      position.known[a] = { rev: String(i + 2), commit: `c${i}` };
      position.revision = String(i + 1);
      await store.save(position, [a]);
    }
    expect(existsSync(`${file}.journal`)).toBe(false);
    expect(JSON.parse(readFileSync(file, 'utf8')).revision).toBe('1001');
    const again = fileStore(file);
    const loaded = (await again.load())!;
    loaded.known[b] = { rev: '2000', commit: 'cb' };
    await again.save(loaded, [b]);
    expect((await fileStore(file).load())!.known).toEqual({ [a]: { rev: '1002', commit: 'c1000' }, [b]: { rev: '2000', commit: 'cb' } });
  });

  it('refuses an unwritable file with a usage error (exit 2)', async () => {
    const blocker = join(dir, 'not-a-dir');
    writeFileSync(blocker, '');
    await expect(fileStore(join(blocker, 'state.json')).save({ revision: '1', known: {} })).rejects.toMatchObject({ kind: 'USAGE' });
  });
});
