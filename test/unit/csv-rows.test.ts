/**
 * The fast CSV reader against csv-parse: for random files (quotes, escaped quotes, line breaks in
 * fields, CRLF, stray quotes and CRs, wrong field counts, BOMs, invalid UTF-8, other delimiters)
 * cut into random chunks, `csvBatches` gives exactly the records, lines and skipped-row warnings
 * csv-parse gives alone with the options the CSV connector always used.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parse } from 'csv-parse';
import { csvBatches } from '../../src/sources/connectors/csv.js';
import { RunReport } from '../../src/sources/core/records.js';
import type { FetchContext } from '../../src/sources/core/connector.js';
import type { CsvDefinition } from '../../src/sources/core/definitions.js';

/** A small deterministic PRNG (mulberry32). */
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

interface Outcome {
  records: [string, unknown][][];
  lines: (number | undefined)[];
  warnings: unknown;
  skipped: number;
  fetched: number;
}

const ctxOf = (report: RunReport): FetchContext => ({
  name: 't',
  env: {},
  signal: new AbortController().signal,
  repoRoot: '/',
  report,
  idField: 'id',
  debug: () => undefined,
});

const skipHandler = (report: RunReport) => (err: Error & { lines?: number }) => {
  report.warn('malformed-row', { line: err.lines, message: err.message.replace(/\s+on line \d+$/, '') });
  report.skipped++;
  report.fetched++;
};

/** What the connector did before the fast reader: csv-parse alone, over the whole input. */
async function reference(bytes: Buffer, d: CsvDefinition): Promise<Outcome> {
  const report = new RunReport();
  const parser = parse({
    bom: true,
    columns: (header: string[]) => header.map((h) => h.trim()),
    info: true,
    delimiter: d.delimiter === 'tab' ? '\t' : (d.delimiter ?? ','),
    quote: d.quote ?? '"',
    encoding: (d.encoding ?? 'utf8') as BufferEncoding,
    skip_empty_lines: true,
    skip_records_with_error: true,
  });
  parser.on('skip', skipHandler(report));
  Readable.from([bytes]).pipe(parser);
  const out: Outcome = { records: [], lines: [], warnings: undefined, skipped: 0, fetched: 0 };
  for await (const { record, info } of parser as AsyncIterable<{ record: Record<string, unknown>; info: { lines: number } }>) {
    out.records.push(Object.entries(record));
    out.lines.push(info.lines);
    report.fetched++;
  }
  return { ...out, warnings: report.warnings(), skipped: report.skipped, fetched: report.fetched };
}

async function viaBatches(chunks: Buffer[], d: CsvDefinition): Promise<Outcome> {
  const report = new RunReport();
  const out: Outcome = { records: [], lines: [], warnings: undefined, skipped: 0, fetched: 0 };
  for await (const b of csvBatches(d, ctxOf(report), Readable.from(chunks))) {
    for (const item of b.items) {
      out.records.push(Object.entries(item.record as Record<string, unknown>));
      out.lines.push(item.line);
      report.fetched++;
      if (b.columns) expect(Object.keys(item.record as object).sort()).toEqual([...b.columns].sort());
    }
  }
  return { ...out, warnings: report.warnings(), skipped: report.skipped, fetched: report.fetched };
}

const PIECES = ['a', 'b', 'x y', ' ', '1', '22', 'é', '😀', '\\', '""', '"q"', 'D', 'D', 'D', 'N', 'N', 'N'];
const RARE = ['"', '\r', '\t', '\ufeff', 'R'];

/** A random CSV text: D stands for the delimiter, N for the line end, R for the other line end. */
function randomCsv(r: () => number, delimiter: string, crlf: boolean): string {
  const cols = 1 + Math.floor(r() * 4);
  const field = () => {
    if (r() < 0.2)
      return `"${['a', 'b"', '"c', 'D', 'N', 'é']
        .filter(() => r() < 0.5)
        .join('')
        .replaceAll('"', '""')}"`;
    let f = '';
    for (let n = Math.floor(r() * 3); n > 0; n--) f += r() < 0.03 ? RARE[Math.floor(r() * RARE.length)] : PIECES[Math.floor(r() * 11)];
    return f;
  };
  const row = (n: number) => Array.from({ length: n }, field).join('D');
  const rows = [row(cols)];
  for (let i = Math.floor(r() * 12); i > 0; i--) rows.push(r() < 0.1 ? '' : row(r() < 0.85 ? cols : Math.floor(r() * 5)));
  let text = rows.join('N') + (r() < 0.7 ? 'N' : '');
  if (r() < 0.05) text = `N${text}`;
  const eol = crlf ? '\r\n' : '\n';
  return text
    .replaceAll('D', delimiter)
    .replaceAll('N', eol)
    .replaceAll('R', crlf ? '\n' : '\r\n');
}

function randomBytes(r: () => number, text: string): Buffer {
  let bytes = Buffer.from(text, 'utf8');
  const p = r();
  if (p < 0.1) bytes = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]);
  else if (p < 0.13) bytes = Buffer.concat([Buffer.from([0xff, 0xfe]), bytes]);
  else if (p < 0.16 && bytes.length) bytes[Math.floor(r() * bytes.length)] = 0xff;
  return bytes;
}

function randomChunks(r: () => number, bytes: Buffer): Buffer[] {
  const chunks: Buffer[] = [];
  for (let at = 0; at < bytes.length; ) {
    const n = r() < 0.5 ? 1 + Math.floor(r() * 4) : 1 + Math.floor(r() * 64);
    chunks.push(bytes.subarray(at, at + n));
    at += n;
  }
  return r() < 0.3 ? [bytes] : chunks;
}

describe('fast CSV reader', () => {
  it('reads random files exactly as csv-parse does, whatever the chunks', async () => {
    const r = rng(Number(process.env.CSV_FUZZ_SEED ?? 12));
    const delimiters = [',', ';', '\t', '|', '::'];
    for (let i = 0; i < Number(process.env.CSV_FUZZ_CASES ?? 3000); i++) {
      const delimiter = delimiters[Math.floor(r() * delimiters.length)]!;
      const d = { type: 'csv', hub: 'h', file: 'x.csv', delimiter: delimiter === '\t' ? 'tab' : delimiter } as CsvDefinition;
      const bytes = randomBytes(r, randomCsv(r, delimiter, r() < 0.3));
      const chunks = randomChunks(r, bytes);
      const want = await reference(bytes, d);
      const got = await viaBatches(chunks, d);
      expect(got, `case ${i}: ${JSON.stringify(bytes.toString('latin1'))}`).toEqual(want);
    }
  }, 120_000);

  it('hands over to csv-parse where a row is beyond it, with the same line numbers', async () => {
    const text = 'id,name\n1,a\n2,"b\nc"\n3,x"y\n4,"d"\r\n5,e\n6,f,g\n';
    const d = { type: 'csv', hub: 'h', file: 'x.csv' } as CsvDefinition;
    const want = await reference(Buffer.from(text), d);
    expect(want.lines).toEqual([2, 4]);
    expect(want.skipped).toBe(3);
    expect(await viaBatches([Buffer.from(text)], d)).toEqual(want);
  });

  it('reads a large file in chunks, a quoted field across a chunk boundary', async () => {
    const rows = ['id,v'];
    for (let i = 0; i < 20_000; i++) rows.push(i % 1000 === 7 ? `${i},"long\n${'x'.repeat(70_000)}"` : `${i},v${i}`);
    const bytes = Buffer.from(rows.join('\n'));
    const d = { type: 'csv', hub: 'h', file: 'x.csv' } as CsvDefinition;
    const chunks: Buffer[] = [];
    for (let at = 0; at < bytes.length; at += 65_536) chunks.push(bytes.subarray(at, at + 65_536));
    expect(await viaBatches(chunks, d)).toEqual(await reference(bytes, d));
  });
});
