/**
 * syncer describe [PATH]: a starter `datapackage.json` for a dataset directory (issue 14). Every CSV
 * or TSV file becomes a tabular resource whose Table Schema (field names and types) is inferred
 * from a sample read with csv-parse; every other file a plain resource. The result is checked
 * against the Data Package schema before it is written; an existing descriptor is kept unless
 * --force. The user then adds a title, description, keywords and licences.
 */
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { usageError } from '../../errors.js';
import { DESCRIPTOR_FILE } from '../../core/datapackage.js';
import { starterDescriptor } from '../../core/datapackage-infer.js';
import { escapeControl } from '../../core/sanitize.js';
import type { Runtime } from '../../runtime.js';
import { descriptorProblem } from '../sync/metadata.js';
import { listFiles, sampleTable, TABLE_EXTENSIONS } from './files.js';

export interface DescribeOptions {
  path?: string;
  force?: boolean;
}

export interface DescribeResult {
  path: string;
  resources: { name: string; path: string; fields?: { name: string; type: string }[] }[];
  skipped: number;
}

export async function run(rt: Runtime, options: DescribeOptions): Promise<void> {
  const dir = resolve(rt.deps.cwd, options.path ?? '.');
  if (!existsSync(dir) || !statSync(dir).isDirectory())
    throw usageError(`${dir} is not a directory`, 'pass the dataset directory (e.g. syncer describe weather)');
  const file = join(dir, DESCRIPTOR_FILE);
  if (existsSync(file) && !options.force) {
    throw usageError(`${file} exists`, 'edit it, or pass --force to replace it with a new starter one');
  }
  const { files, skipped } = listFiles(dir);
  if (files.length === 0) throw usageError(`${dir} holds no files to describe`, 'put the dataset files in it first');
  const tables = [];
  const others: string[] = [];
  for (const rel of files) {
    const ext = /\.([^./]+)$/.exec(rel)?.[1]?.toLowerCase() ?? '';
    const table = TABLE_EXTENSIONS.has(ext) ? await sampleTable(join(dir, rel), rel, ext, (m) => rt.out.warn(m)) : undefined;
    if (table) tables.push(table);
    else others.push(rel);
  }
  const descriptor = starterDescriptor(basename(dir), tables, others, rt.now());
  const problem = descriptorProblem(descriptor);
  if (problem) throw new Error(`the starter descriptor does not pass the Data Package schema: ${problem}`);
  writeFileSync(file, `${JSON.stringify(descriptor, null, 2)}\n`);
  if (skipped > 0) rt.out.warn(`${skipped} more file(s) not listed (at most ${files.length} resources): add them by hand`);
  const resources = (descriptor.resources as { name: string; path: string; schema?: { fields: { name: string; type: string }[] } }[]).map((r) => ({
    name: r.name,
    path: r.path,
    ...(r.schema ? { fields: r.schema.fields } : {}),
  }));
  const result: DescribeResult = { path: file, resources, skipped };
  rt.out.result(result, () => {
    const lines = resources.map(
      (r) =>
        `  ${escapeControl(r.name)}  ${escapeControl(r.path)}${r.fields ? `  (${r.fields.map((f) => `${escapeControl(f.name)}: ${f.type}`).join(', ')})` : ''}`,
    );
    return (
      `wrote ${escapeControl(file)}: ${resources.length} resource(s), ${tables.length} with a table schema\n${lines.join('\n')}\n` +
      'next: add a title, description, keywords and licenses, then syncer sync (it validates the file)'
    );
  });
}
