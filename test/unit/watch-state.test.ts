/**
 * The watch position stores, the cases the e2e suite reaches only by accident: a file store's journal
 * after a torn or malformed line, and what a group store hands the registry (with a stand-in registry).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keys } from '../../src/core/keys.js';
import type { Registry } from '../../src/adapters/registry.js';
import type { Known, Position } from '../../src/commands/watch/events.js';
import { fileStore, groupStore } from '../../src/commands/watch/state.js';

const k = keys('ns/');
const a = k.dataset({ hub: 'weather', date: '2026-01-01', operator: 'lab-a' });
const b = k.dataset({ hub: 'weather', date: '2026-01-02', operator: 'lab-b' });

describe('file store journal', () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncer-watch-journal-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a snapshot at the next save after a torn line, so that nothing saved later is lost behind it', async () => {
    const file = join(dir, 'torn.json');
    const first = fileStore(file);
    await first.save({ revision: '1', known: {} });
    appendFileSync(`${file}.journal`, '{"seq":2,"revision":"5","set":{');
    const store = fileStore(file);
    const position = (await store.load())!;
    expect(position).toEqual({ revision: '1', known: {} });
    position.known[a] = { rev: '7', commit: 'c7' };
    position.revision = '7';
    await store.save(position, [a]);
    expect(existsSync(`${file}.journal`)).toBe(false);
    expect(await fileStore(file).load()).toEqual({ revision: '7', known: { [a]: { rev: '7', commit: 'c7' } } });
  });

  it('stops at a line that parses but is not a record: the position stays older, never ahead', async () => {
    const file = join(dir, 'malformed.json');
    const store = fileStore(file);
    const position: Position = { revision: '1', known: {} };
    await store.save(position);
    position.known[a] = { rev: '2', commit: 'c2' };
    position.revision = '2';
    await store.save(position, [a]);
    appendFileSync(`${file}.journal`, `${JSON.stringify({ seq: 3, set: {}, del: [] })}\n`);
    appendFileSync(`${file}.journal`, `${JSON.stringify({ seq: 4, revision: '9', set: { [b]: { rev: '9', commit: 'c9' } }, del: [] })}\n`);
    expect(await fileStore(file).load()).toEqual({ revision: '2', known: { [a]: { rev: '2', commit: 'c2' } } });
  });

  it('carries the cluster ID and the highest revision seen through the journal, and applies deletes', async () => {
    const file = join(dir, 'extras.json');
    const store = fileStore(file);
    const position: Position = { revision: '1', known: { [a]: { rev: '1', commit: 'c1' } }, cluster: 'c-1', seen: '3' };
    await store.save(position);
    delete position.known[a];
    position.known[b] = { rev: '4', commit: 'c4' };
    Object.assign(position, { revision: '4', seen: '8' });
    await store.save(position, [a, b]);
    const records = readFileSync(`${file}.journal`, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records).toEqual([{ seq: 2, revision: '4', set: { [b]: { rev: '4', commit: 'c4' } }, del: [a], cluster: 'c-1', seen: '8' }]);
    expect(await fileStore(file).load()).toEqual({ revision: '4', known: { [b]: { rev: '4', commit: 'c4' } }, cluster: 'c-1', seen: '8' });
  });
});

/** The part of the registry a group store uses, recording its writes. */
function fakeRegistry(stored: { position?: string; known?: Record<string, string> }, leads = true) {
  const writes: unknown[][] = [];
  const registry = {
    keys: k,
    readWatchPosition: async () => stored.position,
    async *readWatchKnown() {
      for (const [key, value] of Object.entries(stored.known ?? {})) yield { key, value };
    },
    saveWatchState: async (...args: unknown[]) => {
      writes.push(args);
      return leads;
    },
  };
  return { registry: registry as unknown as Registry, writes };
}

describe('group store', () => {
  const leader = { key: 'election/key', onLost: () => {} };

  it('loads the position with its known entries, leaving out those that do not parse', async () => {
    const known = { [a]: JSON.stringify({ rev: '2', commit: 'c2', at: '2026-01-01T00:00:00Z' }), [b]: '{' };
    const { registry } = fakeRegistry({ position: JSON.stringify({ revision: '5', cluster: 'x', seen: '6' }), known });
    expect(await groupStore(registry, 'g', leader).load()).toEqual({
      revision: '5',
      known: { [a]: { rev: '2', commit: 'c2', at: '2026-01-01T00:00:00Z' } },
      cluster: 'x',
      seen: '6',
    });
    expect(await groupStore(fakeRegistry({}).registry, 'g', leader).load()).toBeUndefined();
  });

  it('refuses a position that does not parse, naming the key', async () => {
    const { registry } = fakeRegistry({ position: '{"known":{}}' });
    await expect(groupStore(registry, 'g', leader).load()).rejects.toMatchObject({ kind: 'USAGE', message: expect.stringContaining('(no revision)') });
  });

  it('writes only the touched entries (deletes as undefined), or everything in place of the old', async () => {
    const { registry, writes } = fakeRegistry({});
    const store = groupStore(registry, 'g', leader);
    const known: Known = { [a]: { rev: '2', commit: 'c2' } };
    await store.save({ revision: '3', known, cluster: 'x' }, [a, b]);
    await store.save({ revision: '4', known });
    expect(writes).toEqual([
      [
        'g',
        'election/key',
        '{"revision":"3","cluster":"x"}',
        [
          [a, '{"rev":"2","commit":"c2"}'],
          [b, undefined],
        ],
        undefined,
      ],
      ['g', 'election/key', '{"revision":"4"}', [[a, '{"rev":"2","commit":"c2"}']], true],
    ]);
  });

  it('calls onLost and fails with a registry error once no longer the leader', async () => {
    const { registry } = fakeRegistry({}, false);
    let lost = 0;
    const store = groupStore(registry, 'g', { key: 'election/key', onLost: () => lost++ });
    await expect(store.save({ revision: '1', known: {} })).rejects.toMatchObject({ kind: 'REGISTRY' });
    expect(lost).toBe(1);
  });
});
