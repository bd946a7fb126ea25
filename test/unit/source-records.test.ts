import { describe, expect, it } from 'vitest';
import {
  atOrAfter,
  canonicalLine,
  CommitFold,
  contentKey,
  defaultHubId,
  indexEntry,
  laterCursor,
  mergeRecord,
  outgoing,
  parseState,
  pulledBy,
  RunReport,
  serializeState,
  sortKey,
  sourceFields,
  updatedKey,
  warningLines,
} from '../../src/sources/core/records.js';

describe('record ids and order', () => {
  it('orders integers numerically, then other ids as text', () => {
    const ids = ['10', 'b', '9', 'a:1', '0', '100', 'A', '-1', '007'];
    expect([...ids].sort((x, y) => (sortKey(x) < sortKey(y) ? -1 : 1))).toEqual(['0', '9', '10', '100', '-1', '007', 'A', 'a:1', 'b']);
  });

  it('stores records canonically: id first, fields sorted, externalIds last', () => {
    expect(canonicalLine({ z: 1, externalIds: { s: 2 }, a: { y: 1, x: new Date('2026-01-01T00:00:00Z') }, id: 5, u: undefined })).toBe(
      '{"id":5,"a":{"x":"2026-01-01T00:00:00.000Z","y":1},"z":1,"externalIds":{"s":2}}',
    );
    expect(canonicalLine({ id: 'x', n: 10n, b: Buffer.from([1, 255]), f: NaN })).toBe('{"id":"x","b":"\\\\x01ff","f":null,"n":10}');
  });

  it('change detection ignores externalIds and key order', () => {
    expect(contentKey({ id: 1, a: 1, b: 2, externalIds: { s: 1 } })).toBe(contentKey({ b: 2, a: 1, id: 1, externalIds: { t: 9 } }));
    expect(contentKey({ id: 1, a: 1 })).not.toBe(contentKey({ id: 1, a: 2 }));
  });
});

describe('upsert and two-way mapping', () => {
  it('merges fetched fields over committed ones and keeps every externalId', () => {
    const committed = { id: 1, name: 'old', note: 'kept', externalIds: { other: 7 } };
    expect(mergeRecord(committed, { name: 'new' }, 1, 'src', 1)).toEqual({ id: 1, name: 'new', note: 'kept', externalIds: { other: 7, src: 1 } });
    expect(mergeRecord(undefined, { name: 'x', externalIds: { evil: 1 }, id: 99 }, 'src:5', 'src', 5)).toEqual({
      id: 'src:5',
      name: 'x',
      externalIds: { src: 5 },
    });
  });

  it('the source id goes to externalIds; a source id column named otherwise is kept', () => {
    expect(sourceFields({ id: 3, name: 'a', externalIds: {} }, 'id')).toEqual({ name: 'a' });
    expect(sourceFields({ pk: 3, id: 'legacy', name: 'a' }, 'pk')).toEqual({ id_: 'legacy', name: 'a' });
  });

  it('hub ids: the file owner keeps its ids, other sources are prefixed; the index holds only exceptions', () => {
    expect(defaultHubId('wells', true, 5)).toBe(5);
    expect(defaultHubId('pg', false, 5)).toBe('pg:5');
    expect(indexEntry({ id: 5, externalIds: { wells: 5 } }, 'wells', true)).toBeUndefined();
    expect(indexEntry({ id: 'pg:1', externalIds: { pg: 1, wells: 1000 } }, 'wells', true)).toEqual(['1000', 'pg:1']);
    expect(indexEntry({ id: 1, externalIds: { pg: 2 } }, 'pg', false)).toEqual(['2', 1]);
    expect(indexEntry({ id: 'pg:2', externalIds: { pg: 2 } }, 'pg', false)).toBeUndefined();
    expect(indexEntry({ id: 1 }, 'pg', false)).toBeUndefined();
  });

  it('outgoing records carry the destination id when known, never the hub id or externalIds', () => {
    expect(outgoing({ id: 1, name: 'a', externalIds: { pg: 7, api: 3 } }, 'pg', 'id')).toEqual({ destId: 7, fields: { name: 'a', id: 7 } });
    expect(outgoing({ id: 'api:3', name: 'a', pk: 'stale', externalIds: { api: 3 } }, 'pg', 'pk')).toEqual({ fields: { name: 'a' } });
  });
});

describe('cursor', () => {
  it('orders dates and numbers; refuses what is neither', () => {
    expect(updatedKey('2026-01-01T10:00:00Z')).toBe(Date.parse('2026-01-01T10:00:00Z'));
    expect(updatedKey('2026-01-01 10:00:00.123456+00')).toBe(Date.parse('2026-01-01T10:00:00.123Z'));
    expect(updatedKey(42)).toBe(42);
    expect(updatedKey('17')).toBe(17);
    expect(updatedKey(new Date(5))).toBe(5);
    for (const bad of ['yesterday', '', null, undefined, {}, '1 Jan', true]) expect(updatedKey(bad)).toBeUndefined();
  });

  it('equal values are fetched again; the cursor never moves back', () => {
    const c = { value: 'x', key: 10 };
    expect(atOrAfter(10, c)).toBe(true);
    expect(atOrAfter(9, c)).toBe(false);
    expect(atOrAfter(0, undefined)).toBe(true);
    expect(laterCursor(c, { value: 'y', key: 5 })).toBe(c);
    expect(laterCursor(c, { value: 'y', key: 11 })).toEqual({ value: 'y', key: 11 });
    expect(laterCursor(undefined, c)).toBe(c);
  });

  it('state text is deterministic and tolerant of junk', () => {
    const s = { pull: { cursor: { value: '2026-01-01', key: 1 } }, push: { commit: 'a'.repeat(40) } };
    expect(parseState(serializeState(s))).toEqual(s);
    expect(serializeState({})).toBe('{}\n');
    expect(parseState('{"pull":{"cursor":{"value":{},"key":"x"}},"push":{"commit":"HEAD"}}')).toEqual({});
    expect(parseState('not json')).toEqual({});
  });
});

describe('push: what changed and who changed it', () => {
  const line = (id: number | string, v: number, ext: Record<string, unknown> = {}) => JSON.stringify({ id, v, externalIds: ext });

  it('content changes are pending; externalIds-only changes are not; a pull from the destination is not sent back', () => {
    const pending = new Map<string, boolean>();
    let f = new CommitFold(pending, false);
    f.added(line(1, 1));
    f.added(line(2, 1));
    f.end();
    expect([...pending]).toEqual([
      ['1', false],
      ['2', false],
    ]);
    f = new CommitFold(pending, true); // pull from the destination changes 2
    f.removed(line(2, 1));
    f.added(line(2, 2, { dest: 9 }));
    f.end();
    f = new CommitFold(pending, false); // write-back of ids only
    f.removed(line(1, 1));
    f.added(line(1, 1, { dest: 4 }));
    f.end();
    expect([...pending]).toEqual([
      ['1', false],
      ['2', true],
    ]);
    f = new CommitFold(pending, false); // 1 removed from the file
    f.removed(line(1, 1, { dest: 4 }));
    f.end();
    expect([...pending]).toEqual([['2', true]]);
  });

  it('recognises pull commits', () => {
    expect(pulledBy('pull legacy 2026-11-22')).toBe('legacy');
    expect(pulledBy('push legacy 2026-11-22')).toBeUndefined();
    expect(pulledBy('pull legacy')).toBeUndefined();
  });
});

describe('report', () => {
  it('groups warnings by kind with a few samples', () => {
    const r = new RunReport();
    for (let i = 1; i <= 12; i++) r.warn('malformed-row', { line: i + 1, message: 'bad' });
    r.warn('missing-id', { position: 3, message: 'no id' });
    const w = r.warnings();
    expect(Object.keys(w)).toEqual(['malformed-row', 'missing-id']);
    expect(w['malformed-row']!.count).toBe(12);
    expect(w['malformed-row']!.samples).toHaveLength(10);
    expect(r.warningCount).toBe(13);
    expect(warningLines(r)[0]).toMatch(/^malformed-row: 12 \(line 2, line 3, .*line 11, \.\.\.\): bad$/);
    expect(warningLines(r)[1]).toBe('missing-id: 1 (record 3): no id');
  });
});
