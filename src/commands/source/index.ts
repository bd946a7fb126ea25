/**
 * syncer source add|list|remove|pull|push: data sources that feed a hub (the Sync API of
 * seeds/001 as git-backed subcommands). Definitions live in the operator's repository
 * (`.syncer/sources.json`, committed); each source's cursor beside it (`.syncer/state/<name>.json`),
 * committed together with the data it describes.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { usageError } from '../../errors.js';
import { checkName } from '../../core/names.js';
import type { Runtime } from '../../runtime.js';
import type { SyncResult } from '../sync/index.js';
import {
  checkDefinition, dataFile, describeLocation, envVars, fileStem, idFieldOf, secretProblems, serializeSourcesFile, SOURCES_FILE, SOURCE_TYPES, stateFile,
  type Definition,
} from './definitions.js';
import { parseState, summaryText, warningLines, type RunReport } from './records.js';
import { commitPaths, locked, openRepo, readSources, readText, restorePaths, writeAtomic } from './repo.js';

export interface AddOptions {
  name: string;
  hub?: string;
  type?: string;
  idField?: string;
  updatedField?: string;
  into?: string;
  format?: string;
  replace?: boolean;
  // csv
  file?: string;
  url?: string;
  delimiter?: string;
  quote?: string;
  encoding?: string;
  // http
  recordsPath?: string;
  paging?: string;
  pageSize?: number;
  startParam?: string;
  limitParam?: string;
  pageParam?: string;
  firstPage?: number;
  nextPath?: string;
  sinceParam?: string;
  tokenEnv?: string;
  retries?: number;
  pushUrl?: string;
  pushIdsPath?: string;
  batchSize?: number;
  // postgres
  passwordEnv?: string;
  table?: string;
  query?: string;
  // all
  timeoutMs?: number;
}

export type SourceCommand =
  | ({ action: 'add' } & AddOptions)
  | { action: 'list' }
  | { action: 'remove'; name: string }
  | { action: 'pull'; name: string; full?: boolean; dryRun?: boolean; sync?: boolean }
  | { action: 'push'; name: string; dryRun?: boolean };

export async function run(rt: Runtime, cmd: SourceCommand): Promise<void> {
  switch (cmd.action) {
    case 'add':
      return add(rt, cmd);
    case 'list':
      return list(rt);
    case 'remove':
      return remove(rt, cmd.name);
    case 'pull':
      return pullCommand(rt, cmd);
    case 'push':
      return pushCommand(rt, cmd);
  }
}

/** The definition the flags describe: only the keys given, validated for the type. */
export function definitionFromFlags(o: AddOptions & { action?: string }, hub: string, type: string): Definition {
  if (!(SOURCE_TYPES as readonly string[]).includes(type)) throw usageError(`invalid --type ${JSON.stringify(type)}`, `one of ${SOURCE_TYPES.join(', ')}`);
  const { name: _n, hub: _h, type: _t, replace: _r, action: _a, ...rest } = o;
  let def: Definition;
  try {
    def = checkDefinition({ type, hub, ...rest });
  } catch (e) {
    throw usageError(`invalid ${type} source: ${(e as Error).message}`, 'syncer source add --help lists the options of each type');
  }
  const secrets = secretProblems(def);
  if (secrets.length) {
    throw usageError(`refusing to store a secret in ${SOURCES_FILE} (it is versioned): ${secrets.join('; ')}`, type === 'postgres' ? 'drop the password from --url and name a variable with --password-env (or set PGPASSWORD)' : 'drop it from the URL and name a variable with --token-env');
  }
  return def;
}

async function add(rt: Runtime, o: AddOptions): Promise<void> {
  const name = checkName('source', o.name);
  const hub = checkName('hub', await rt.need(o.hub, '--hub', () => rt.prompter.input('Hub the records go to')));
  const type = await rt.need(o.type, '--type', () => rt.prompter.select('Source type', SOURCE_TYPES.map((t) => ({ name: t, value: t }))));
  const def = definitionFromFlags(o, hub, type);
  const repo = await openRepo(rt);
  await locked(rt, repo, `source add of ${name}`, async () => {
    const file = readSources(repo.top);
    if (file.sources[name] && !o.replace) throw usageError(`source ${name} already exists`, 'pass --replace to redefine it, or remove it first');
    const target = dataFile(name, def);
    for (const [other, d] of Object.entries(file.sources)) {
      if (other === name) continue;
      if (d.hub === def.hub && fileStem(other, d) === fileStem(name, def) && (d.format ?? 'ndjson') !== (def.format ?? 'ndjson')) {
        throw usageError(`source ${other} already writes ${dataFile(other, d)} as ${d.format ?? 'ndjson'}`, 'sources sharing a file share its --format');
      }
    }
    const path = join(repo.top, SOURCES_FILE);
    const before = readText(path);
    writeAtomic(path, serializeSourcesFile({ schema: 1, sources: { ...file.sources, [name]: def } }));
    try {
      await commitPaths(repo.git, [SOURCES_FILE], `source ${file.sources[name] ? 'replace' : 'add'} ${name}`);
    } catch (e) {
      if (before === undefined) await restorePaths(repo.git, repo.top, [SOURCES_FILE]).catch(() => undefined);
      else writeAtomic(path, before);
      throw e;
    }
    const env = envVars(def);
    rt.out.result({ source: name, hub: def.hub, type: def.type, file: target, definition: def }, () =>
      `added source ${name} (${def.type}, ${describeLocation(def)}) -> ${target}${env.length ? `\nreads the secret from $${env.join(', $')}` : ''}`,
    );
  });
}

async function list(rt: Runtime): Promise<void> {
  const repo = await openRepo(rt);
  const { sources } = readSources(repo.top);
  const rows = Object.entries(sources)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([name, d]) => {
      const state = parseState(readText(join(repo.top, stateFile(name))));
      return {
        source: name,
        hub: d.hub,
        type: d.type,
        file: dataFile(name, d),
        location: describeLocation(d),
        idField: idFieldOf(d),
        updatedField: d.updatedField ?? null,
        cursor: state.pull?.cursor?.value ?? null,
        pushedCommit: state.push?.commit ?? null,
        env: envVars(d),
      };
    });
  rt.out.result(rows, () =>
    rows.length === 0
      ? 'no sources (add one with syncer source add NAME --hub H --type csv|http|postgres ...)'
      : rt.out.table(
          ['SOURCE', 'TYPE', 'FILE', 'FROM', 'CURSOR'],
          rows.map((r) => [r.source, r.type, r.file, r.location, r.cursor === null ? '-' : String(r.cursor)]),
        ),
  );
}

async function remove(rt: Runtime, rawName: string): Promise<void> {
  const name = checkName('source', rawName);
  const repo = await openRepo(rt);
  await locked(rt, repo, `source remove of ${name}`, async () => {
    const file = readSources(repo.top);
    const def = file.sources[name];
    if (!def) throw usageError(`no source ${JSON.stringify(name)}`, 'syncer source list shows the defined sources');
    const { [name]: _gone, ...rest } = file.sources;
    const path = join(repo.top, SOURCES_FILE);
    const before = readText(path)!;
    writeAtomic(path, serializeSourcesFile({ schema: 1, sources: rest }));
    const state = stateFile(name);
    const paths = [SOURCES_FILE];
    const tracked = (await repo.git.tryRun(['ls-files', '--error-unmatch', '--', state])) !== undefined;
    if (tracked || existsSync(join(repo.top, state))) {
      rmSync(join(repo.top, state), { force: true });
      if (tracked) paths.push(state);
    }
    try {
      await commitPaths(repo.git, paths, `source remove ${name}`);
    } catch (e) {
      writeAtomic(path, before);
      await restorePaths(repo.git, repo.top, paths.slice(1)).catch(() => undefined);
      throw e;
    }
    const data = dataFile(name, def);
    rt.out.result({ source: name, removed: true, dataFile: data }, () => `removed source ${name}; its records stay in ${data}`);
  });
}

const syncLine = (s: SyncResult) =>
  `published ${s.hub}/${s.date} as ${s.operator}: ${s.commit.slice(0, 12)}, ${s.files} files, advertisement ${s.advertised}`;

function reportJson(r: RunReport) {
  return { ...r.counts(), warnings: r.warnings(), errors: r.errors, cursor: r.cursor ?? null };
}

function printWarnings(rt: Runtime, name: string, r: RunReport): void {
  for (const line of warningLines(r)) rt.out.warn(`source ${name}: ${line}`);
}

async function pullCommand(rt: Runtime, o: { name: string; full?: boolean; dryRun?: boolean; sync?: boolean }): Promise<void> {
  const name = checkName('source', o.name);
  const { pull } = await import('./pull.js');
  const r = await pull(rt, name, { full: o.full, dryRun: o.dryRun, sync: o.sync });
  printWarnings(rt, name, r.report);
  const doing = r.dryRun ? 'dry run: nothing written' : r.committed ? `committed ${r.commit?.slice(0, 12)}` : 'nothing new: no commit';
  rt.out.result(
    { source: r.source, hub: r.hub, file: r.file, dryRun: r.dryRun, committed: r.committed, commit: r.commit ?? null, ...reportJson(r.report), ...(r.sync ? { sync: r.sync } : {}) },
    () => summaryText(`pull ${name} -> ${r.file}: ${doing}`, r.report, r.sync ? [syncLine(r.sync as SyncResult)] : []),
  );
}

async function pushCommand(rt: Runtime, o: { name: string; dryRun?: boolean }): Promise<void> {
  const name = checkName('source', o.name);
  const { push } = await import('./push.js');
  const r = await push(rt, name, { dryRun: o.dryRun });
  printWarnings(rt, name, r.report);
  const doing = r.dryRun ? `dry run: ${r.report.pushed} record(s) would be sent` : r.committed ? `committed ${r.commit?.slice(0, 12)}` : 'no commit';
  rt.out.result(
    { source: r.source, hub: r.hub, file: r.file, dryRun: r.dryRun, committed: r.committed, commit: r.commit ?? null, pushedCommit: r.pushedCommit ?? null, ...reportJson(r.report) },
    () => summaryText(`push ${r.file} -> ${name}: ${doing}`, r.report),
  );
}
