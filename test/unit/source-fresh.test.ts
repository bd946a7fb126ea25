/**
 * The fresh line a pull spools for a fetched record is the line the merge used to build from the
 * spooled JSON entry (merged into nothing, through toCsvShape for a CSV data file, canonical), for
 * any values (the generic path) and for CSV rows (the template); the spool sorts stably in bounded
 * memory, whatever its keys; stored lines give their id without being parsed only when that is safe.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freshLine, RowTemplate } from '../../src/sources/core/fresh.js';
import { canonicalLine, mergeRecord, RunReport, sortKey, sourceFields, updatedKey, type Rec } from '../../src/sources/core/records.js';
import { mergeInto, spoolHead } from '../../src/sources/pull-merge.js';
import { leadingIdKey, LineReader, LineWriter, SortSpool, StoredReader, toCsvShape } from '../../src/sources/core/store.js';

const dir = mkdtempSync(join(tmpdir(), 'syncer-fresh-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function rng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** What the merge made of a record spooled as JSON (before fresh lines). */
function spooledThenMerged(fields: Rec, hubId: string | number, source: string, sourceId: string | number, csv: boolean): string {
  const e = JSON.parse(JSON.stringify({ hubId, sourceId, upd: null, fields, where: 1 })) as { hubId: string | number; sourceId: string | number; fields: Rec };
  const rec = mergeRecord(undefined, e.fields, e.hubId, source, e.sourceId);
  return canonicalLine(csv ? toCsvShape(rec) : rec);
}

const KEYS = ['id', 'pk', 'id_', 'externalIds', 'name', 'Name', 'a.b', 'ün', '😀', 'z', '5', '10', '', 'toJSON', 'constructor'];
const TEXTS = ['', 'a', 'é', '😀', '\ud800x', 'x\\y', 'tab\there', '"q"', 'line\nbreak', '\u0001', '\u2028', '007', ' pad '];
const VALUES: unknown[] = [
  ...TEXTS,
  0,
  -0,
  1.5,
  1e21,
  NaN,
  Infinity,
  true,
  null,
  undefined,
  new Date('2026-01-02T03:04:05.678Z'),
  new Date(NaN),
  Buffer.from([1, 255]),
  [1, undefined, 'a'],
  { b: 1, a: { d: new Date(0), c: undefined } },
  { type: 'Buffer', data: [1] },
];

describe('fresh lines', () => {
  it('the generic path gives the line the spooled entry gave, for any values', () => {
    const r = rng(3);
    const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)]!;
    for (let i = 0; i < 5000; i++) {
      const raw: Rec = {};
      for (let n = Math.floor(r() * 6); n > 0; n--) raw[pick(KEYS)] = pick(VALUES);
      const idField = pick(['id', 'pk']);
      const csv = r() < 0.3;
      const sourceId = r() < 0.5 ? pick(['1', 'x', '007']) : pick([1, 2.5, -0]);
      let hubId: string | number = r() < 0.5 ? sourceId : pick(['src:1', 7, 'é']);
      let fields = sourceFields(raw, idField);
      if (csv) {
        hubId = String(hubId);
        fields = toCsvShape(fields);
      }
      expect(freshLine(fields, hubId, 'src', sourceId, csv), JSON.stringify(raw)).toBe(spooledThenMerged(fields, hubId, 'src', sourceId, csv));
    }
  });

  it('a CSV row template gives the generic line, or declines', () => {
    const r = rng(4);
    const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)]!;
    let templated = 0;
    for (let i = 0; i < 5000; i++) {
      const columns = [...new Set(Array.from({ length: 1 + Math.floor(r() * 6) }, () => pick(KEYS)))];
      const idField = pick(['id', 'pk', columns[0]!]);
      const csv = r() < 0.4;
      const source = pick(['src', '1', 'a-b']);
      const t = RowTemplate.of(columns, idField, source, csv);
      if (!t) {
        expect(columns.some((c) => /^\d+$/.test(c))).toBe(true);
        continue;
      }
      templated++;
      const row: Rec = {};
      for (const c of columns) row[c] = pick(TEXTS);
      const sid = pick(['1', 'x', 'é"']);
      const hubId = csv ? pick(['1', 'src:1']) : pick(['1', 'src:1', 42, -0, 1e21]);
      const fields = csv ? toCsvShape(sourceFields(row, idField)) : sourceFields(row, idField);
      expect(t.line(row, hubId, sid), JSON.stringify({ columns, row, idField })).toBe(spooledThenMerged(fields, hubId, source, sid, csv));
    }
    expect(templated).toBeGreaterThan(2000);
  });
});

describe('spool', () => {
  it('merges more runs than it opens at once (in passes), stably, whatever the keys', async () => {
    const spool = new SortSpool(mkdtempSync(join(dir, 's-')), 3);
    const keys = ['b', 'a', '"q', 'tab\tkey', 'new\nline', 'cr\r', '\ud800lone', 'é', '😀', ''].map((k) => sortKey(k || '0'));
    const added: [string, string][] = [];
    for (let i = 0; i < 400; i++) {
      const key = keys[(i * 7) % keys.length]!;
      added.push([key, `text ${i} ✓`]);
      if (spool.push(key, `text ${i}`, ' ✓')) await spool.spill();
    }
    const got: [string, string][] = [];
    for await (const b of spool.batches(7)) for (let i = 0; i < b.keys.length; i++) got.push([b.keys[i]!, b.texts[i]!]);
    const want = added
      .map((e, i) => [e, i] as const)
      .sort((x, y) => (x[0][0] < y[0][0] ? -1 : x[0][0] > y[0][0] ? 1 : x[1] - y[1]))
      .map(([e]) => e);
    expect(got).toEqual(want);
  });
});

describe('lines', () => {
  it('writes text and bytes of any size, and reads them back a chunk at a time', async () => {
    const p = join(dir, 'w.txt');
    const w = new LineWriter(p);
    const big = 'é'.repeat(600_000);
    w.putLine('a');
    w.putBytes(Buffer.from('xyz'), 1, 3);
    w.putLine('');
    w.putLine(big);
    await w.write('last');
    await w.close();
    expect(readFileSync(p, 'utf8')).toBe(`a\nyz\n${big}\nlast`);
    for (const oneByOne of [false, true]) {
      const r = new LineReader(p, 1000, oneByOne);
      const lines: string[] = [];
      while (await r.fill()) for (let l = r.next(); l !== undefined; l = r.next()) lines.push(l);
      expect(lines).toEqual(['a', 'yz', big, 'last']);
      expect(r.exact).toBe(false);
    }
  });

  it('a stored file is exact only when its bytes are its lines, each with a newline', async () => {
    const cases: [string, boolean][] = [
      ['{"id":1}\n{"id":2}\n', true],
      ['{"id":1}\r\n', false],
      ['{"id":1}\n\n', false],
      ['{"id":1}', false],
      ['', true],
    ];
    for (const [text, exact] of cases) {
      const p = join(dir, 'e.ndjson');
      writeFileSync(p, text);
      const r = new StoredReader(p, 'ndjson');
      while (await r.fill()) while (r.next());
      expect(r.exact, JSON.stringify(text)).toBe(exact);
    }
  });

  it('reads a stored id from the text only where JSON.parse would find the same', () => {
    expect(leadingIdKey('{"id":"a b","x":1}')).toBe(sortKey('a b'));
    expect(leadingIdKey('{"id":12,"x":1}')).toBe(sortKey('12'));
    expect(leadingIdKey('{"id":1e2}')).toBe(sortKey('100'));
    for (const line of ['{"id":"a\\"b"}', '{"id": 1}', '{"x":1,"id":2}', '{"id":"  "}', '{"id":01}', '{"id":1.}', '{"id":"a"x}', '{"id":null}']) {
      expect(leadingIdKey(line), line).toBeUndefined();
    }
  });
});

describe('merge', () => {
  /** The merge before fresh lines: every fetched record parsed from its spooled JSON and merged. */
  function oldMerge(committed: { line: string; rec: Rec }[], fetched: Map<string, { fields: Rec; hubId: string | number; sourceId: string | number }>) {
    const byKey = new Map(committed.map((c) => [sortKey(String(c.rec.id)), c]));
    const keys = [...new Set([...byKey.keys(), ...fetched.keys()])].sort();
    const lines: string[] = [];
    const counts = { added: 0, updated: 0, unchanged: 0 };
    for (const k of keys) {
      const old = byKey.get(k);
      const f = fetched.get(k);
      if (!f) {
        lines.push(old!.line);
        continue;
      }
      const e = JSON.parse(JSON.stringify(f)) as typeof f;
      const rec = mergeRecord(old?.rec, e.fields, e.hubId, 'src', e.sourceId);
      const line = canonicalLine(rec);
      if (!old) counts.added++;
      else if (line === old.line || contentKeyOf(rec) === contentKeyOf(old.rec)) counts.unchanged++;
      else counts.updated++;
      lines.push(old && line !== old.line && line === canonicalLine(old.rec) ? old.line : line);
    }
    return { text: lines.map((l) => `${l}\n`).join(''), counts };
  }
  const contentKeyOf = (rec: Rec) => {
    const { externalIds: _e, ...rest } = rec;
    return canonicalLine(rest);
  };

  it('gives what merging every spooled record gave, untouched lines byte for byte', async () => {
    const r = rng(9);
    const pick = <T>(a: T[]) => a[Math.floor(r() * a.length)]!;
    for (let round = 0; round < 60; round++) {
      const committed: { line: string; rec: Rec }[] = [];
      const fetched = new Map<string, { fields: Rec; hubId: string | number; sourceId: string | number }>();
      for (let id = 1; id <= 30; id++) {
        const fields: Rec = {};
        for (let n = Math.floor(r() * 4); n > 0; n--) fields[pick(['name', 'z', 'ün', 'a'])] = pick(VALUES.filter((v) => v !== undefined));
        const hubId = r() < 0.5 ? id : String(id);
        const rec = mergeRecord(r() < 0.3 ? { kept: pick(TEXTS), externalIds: { other: 1 } } : undefined, fields, hubId, 'src', hubId);
        if (r() < 0.7) {
          const line = r() < 0.2 ? JSON.stringify(rec, null, 1).replaceAll('\n', '') : canonicalLine(rec);
          committed.push({ line, rec: JSON.parse(line) as Rec });
        }
        if (r() < 0.7) fetched.set(sortKey(String(hubId)), { fields: r() < 0.6 ? fields : { ...fields, name: pick(TEXTS) }, hubId, sourceId: hubId });
      }
      const want = oldMerge(committed, fetched);
      const path = join(dir, `c-${round}.ndjson`);
      writeFileSync(path, committed.map((c) => `${c.line}\n`).join(''));
      const spool = new SortSpool(mkdtempSync(join(dir, 'm-')), 4);
      for (const [key, f] of fetched) if (spool.push(key, spoolHead(null), freshLine(f.fields, f.hubId, 'src', f.sourceId, false))) await spool.spill();
      const report = new RunReport();
      const out = join(dir, `o-${round}.ndjson`);
      const { identical } = await mergeInto({ path, format: 'ndjson', keysFromText: round % 2 === 0 }, spool, out, 'src', 'ndjson', report);
      expect(readFileSync(out, 'utf8')).toBe(want.text);
      expect({ added: report.added, updated: report.updated, unchanged: report.unchanged }).toEqual(want.counts);
      expect(identical).toBe(want.text === readFileSync(path, 'utf8'));
    }
  });
});

describe('updated values', () => {
  /** What updatedKey was before its shortcut for `YYYY-MM-DDTHH:MM:SSZ`. */
  function parsed(v: string): number | undefined {
    const s = v.trim();
    if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
    if (!/^\d{4}-\d{2}-\d{2}/.test(s)) return undefined;
    const ms = Date.parse(s);
    return Number.isNaN(ms) ? undefined : ms;
  }

  it('reads UTC timestamps as Date.parse does, out-of-range parts included', () => {
    const p2 = (n: number) => String(n).padStart(2, '0');
    const r = rng(5);
    const years = ['2026', '2024', '2000', '1900', '1000', '0999', '0050', '9999', '20a6'];
    for (const y of years) {
      for (let m = 0; m <= 13; m++) {
        for (let d = 0; d <= 32; d++) {
          const [h, mi, s] = [Math.floor(r() * 26), Math.floor(r() * 62), Math.floor(r() * 62)];
          const day = `${y}-${p2(m)}-${p2(d)}`;
          for (const v of [`${day}T${p2(h)}:${p2(mi)}:${p2(s)}Z`, `${day}T23:59:59Z`, `${day}T24:00:00Z`]) {
            expect(updatedKey(v), v).toBe(parsed(v));
          }
        }
      }
    }
    for (const v of [
      '2026-01-01T00:00:00z',
      '2026-01-01 00:00:00Z',
      '2026-01-01T00:00:00.5Z',
      ' 2026-01-01T00:00:00Z',
      '2026-01-01T0:00:00ZZ',
      '+02026-01-01T00:00:00Z',
    ]) {
      expect(updatedKey(v), v).toBe(parsed(v));
    }
  });
});
