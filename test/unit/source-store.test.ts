import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { csvColumns, readLines, readStored, SortSpool, toCsvShape, fromCsvRow, writeCsvFromNdjson } from '../../src/sources/core/store.js';
import { sortKey } from '../../src/sources/core/records.js';
import { retryDelay } from '../../src/sources/connectors/http.js';
import { quoteIdent, selectSql } from '../../src/sources/connectors/postgres.js';
import { delimiterOf } from '../../src/sources/connectors/csv.js';

const dir = mkdtempSync(join(tmpdir(), 'syncer-store-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('external sort', () => {
  it('sorts across many runs, stable for equal keys', async () => {
    const spool = new SortSpool(mkdtempSync(join(dir, 's-')), 7);
    const ids = Array.from({ length: 100 }, (_, i) => String((i * 37) % 50)); // every id twice
    for (const [i, id] of ids.entries()) await spool.add(sortKey(id), JSON.stringify({ id, i }));
    const out: { id: string; i: number }[] = [];
    for await (const e of spool.sorted()) out.push(JSON.parse(e.text));
    expect(out.map((o) => o.id)).toEqual(Array.from({ length: 50 }, (_, i) => [String(i), String(i)]).flat());
    for (let k = 0; k < out.length; k += 2) expect(out[k]!.i).toBeLessThan(out[k + 1]!.i);
  });

  it('sorts in memory when everything fits in one chunk', async () => {
    const spool = new SortSpool(dir, 1000);
    for (const id of ['b', '2', '10', 'a']) await spool.add(sortKey(id), id);
    const out: string[] = [];
    for await (const e of spool.sorted()) out.push(e.text);
    expect(out).toEqual(['2', '10', 'a', 'b']);
  });
});

describe('stored files', () => {
  it('reads lines with \\r\\n and without a final newline', async () => {
    const p = join(dir, 'l.txt');
    writeFileSync(p, 'a\r\nb\nc');
    const got: string[] = [];
    for await (const l of readLines(p, 2)) got.push(l);
    expect(got).toEqual(['a', 'b', 'c']);
  });

  it('refuses a committed line that is not a record with an id', async () => {
    const p = join(dir, 'bad.ndjson');
    writeFileSync(p, '{"id":1}\n{"name":"no id"}\n');
    await expect(
      (async () => {
        for await (const _ of readStored(p, 'ndjson'));
      })(),
    ).rejects.toThrow(/line 2 .* not a record with an "id"/);
  });

  it('CSV storage: text values, dotted nesting, externalIds columns, and back', async () => {
    const rec = toCsvShape({ id: 5, depth: 1.5, geo: { lat: 1, lng: 2 }, tags: ['a'], none: null, empty: '', externalIds: { api: 9 } });
    expect(rec).toEqual({ id: '5', depth: '1.5', 'geo.lat': '1', 'geo.lng': '2', tags: '["a"]', externalIds: { api: '9' } });
    expect(csvColumns(['tags', 'externalIds.z', 'id', 'depth', 'externalIds.api'])).toEqual(['id', 'depth', 'tags', 'externalIds.api', 'externalIds.z']);
    const nd = join(dir, 'x.ndjson');
    const csv = join(dir, 'x.csv');
    writeFileSync(nd, `${JSON.stringify(rec)}\n${JSON.stringify({ id: '6', depth: 'a,"b"' })}\n`);
    await writeCsvFromNdjson(nd, csv, ['id', 'depth', 'externalIds.api']);
    expect(readFileSync(csv, 'utf8')).toBe('id,depth,externalIds.api\n5,1.5,9\n6,"a,""b""",\n');
    const back = [];
    for await (const r of readStored(csv, 'csv')) back.push(r.rec);
    expect(back).toEqual([
      { id: '5', depth: '1.5', externalIds: { api: '9' } },
      { id: '6', depth: 'a,"b"' },
    ]);
    expect(fromCsvRow({ id: '1', x: '', 'externalIds.a': '' })).toEqual({ id: '1' });
  });
});

describe('adapters (pure parts)', () => {
  it('backs off exponentially, honouring Retry-After within a cap', () => {
    for (let i = 0; i < 50; i++) {
      const d = retryDelay(2, null, 100);
      expect(d).toBeGreaterThanOrEqual(200);
      expect(d).toBeLessThanOrEqual(400);
    }
    expect(retryDelay(0, '3', 100)).toBe(3000);
    expect(retryDelay(0, '9999', 100)).toBe(30_000);
    expect(retryDelay(0, new Date(10_000).toUTCString(), 100, 8_000)).toBe(2000);
    expect(retryDelay(30, null, 100)).toBeLessThanOrEqual(30_000);
  });

  it('passes the cursor as a parameter, never in the SQL text', () => {
    const d = { type: 'postgres' as const, hub: 'h', url: 'postgres://u@h/d', table: 'public.readings', updatedField: 'updated_at' };
    expect(selectSql(d, "2026-01-01'; drop table x; --")).toEqual({
      text: 'SELECT * FROM "public"."readings" WHERE "updated_at" >= $1',
      values: ["2026-01-01'; drop table x; --"],
    });
    expect(selectSql(d, undefined)).toEqual({ text: 'SELECT * FROM "public"."readings"', values: [] });
    expect(selectSql({ ...d, table: undefined, query: 'select * from t;' }, 5).text).toBe(
      'SELECT * FROM (select * from t) AS syncer_source WHERE "updated_at" >= $1',
    );
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
  });

  it('names delimiters', () => {
    expect(delimiterOf(undefined)).toBe(',');
    expect(delimiterOf('tab')).toBe('\t');
    expect(delimiterOf('\\t')).toBe('\t');
    expect(delimiterOf(';')).toBe(';');
  });
});
