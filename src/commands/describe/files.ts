/** describe's file work: the dataset's files (bounded), and a sample of a CSV/TSV table read with csv-parse. */
import { createReadStream, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse';
import { DESCRIPTOR_FILE } from '../../core/datapackage.js';
import { type TableSample, TypeInference } from '../../core/datapackage-infer.js';
import { escapeControl } from '../../core/sanitize.js';

export const TABLE_EXTENSIONS = new Set(['csv', 'tsv']);
/** At most this many resources in a starter descriptor. */
export const MAX_FILES = 1000;
/** Types are inferred from at most this many rows, read from at most this many bytes, of each table. */
export const SAMPLE_ROWS = 1000;
export const SAMPLE_BYTES = 1024 * 1024;

/** The dataset's files (relative POSIX paths, sorted), hidden ones and the descriptor left out; at most MAX_FILES. */
export function listFiles(dir: string): { files: string[]; skipped: number } {
  const files: string[] = [];
  let skipped = 0;
  const walk = (rel: string) => {
    const entries = readdirSync(join(dir, rel), { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const e of entries) {
      if (e.name.startsWith('.')) continue;
      const path = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path);
      else if (e.isFile() && path !== DESCRIPTOR_FILE) {
        if (files.length < MAX_FILES) files.push(path);
        else skipped++;
      }
    }
  };
  walk('');
  return { files, skipped };
}

/**
 * The header and inferred column types of a CSV (`,`, or `;` when the header has more of them) or
 * TSV file, from its first SAMPLE_ROWS rows within SAMPLE_BYTES; undefined (a plain resource) when
 * it has no header row or cannot be read as a table.
 */
export async function sampleTable(file: string, rel: string, ext: string, warn: (m: string) => void): Promise<TableSample | undefined> {
  const size = statSync(file).size;
  const cut = size > SAMPLE_BYTES;
  const delimiter = ext === 'tsv' ? '\t' : await guessDelimiter(file);
  const input = createReadStream(file, { end: SAMPLE_BYTES - 1 });
  const parser = parse({ bom: true, delimiter, relax_column_count: true, skip_empty_lines: true, to_line: SAMPLE_ROWS + 1 });
  input.pipe(parser);
  let header: string[] | undefined;
  let inference: TypeInference | undefined;
  let last: string[] | undefined;
  try {
    for await (const record of parser as AsyncIterable<string[]>) {
      if (!header) {
        header = record;
        inference = new TypeInference(header.length);
        continue;
      }
      if (last) inference!.add(last);
      last = record;
    }
  } catch (e) {
    // A sample cut in the middle of a quoted field ends badly: what was read still counts.
    if (!cut) {
      warn(`${escapeControl(rel)} is not read as a table (${escapeControl((e as Error).message)}): listed as a plain resource`);
      return undefined;
    }
  } finally {
    input.destroy();
  }
  // The last row of a cut sample may be cut too: it says nothing.
  if (last && !cut) inference?.add(last);
  if (!header || header.length === 0) return undefined;
  return { path: rel, delimiter, header, types: inference!.types() };
}

async function guessDelimiter(file: string): Promise<string> {
  const stream = createReadStream(file, { end: 64 * 1024 - 1, encoding: 'utf8' });
  let text = '';
  for await (const chunk of stream) {
    text += chunk;
    if (text.includes('\n')) break;
  }
  stream.destroy();
  const first = text.split('\n', 1)[0] ?? '';
  const count = (c: string) => first.split(c).length - 1;
  return count(';') > count(',') ? ';' : ',';
}
