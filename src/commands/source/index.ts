/**
 * syncer source add|list|remove|pull|push: data sources that feed a hub, as git-backed
 * subcommands. Definitions live in the operator's repository (`.syncer/sources.json`, committed);
 * each source's cursor beside it (`.syncer/state/<name>.json`), committed together with the data
 * it describes. The sources themselves (connectors, records, pull and push) are src/sources/.
 */
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { usageError } from '../../errors.js';
import { checkName } from '../../core/names.js';
import type { Runtime } from '../../runtime.js';
import {
  dataFile,
  describeLocation,
  envVars,
  idFieldOf,
  serializeSourcesFile,
  SOURCES_FILE,
  stateFile,
  type DefinitionFlags,
} from '../../sources/core/definitions.js';
import { parseState } from '../../sources/core/records.js';
import { commitPaths, isTracked, locked, readSources, readText, restorePaths, writeAtomic } from '../../sources/repo.js';
import { add } from './add.js';
import { openSourceRepo, sourceIo } from './context.js';
import { pullCommand, pushCommand } from './runs.js';

export { definitionFromFlags } from './add.js';

/** `source add`: the source's name, its hub and type, and every option of a definition (the schema's, by name). */
export interface AddOptions extends DefinitionFlags {
  name: string;
  hub?: string;
  type?: string;
  replace?: boolean;
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

async function list(rt: Runtime): Promise<void> {
  const repo = await openSourceRepo(rt);
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
  const repo = await openSourceRepo(rt);
  await locked(sourceIo(rt), repo, `source remove of ${name}`, async () => {
    const file = readSources(repo.top);
    const def = file.sources[name];
    if (!def) throw usageError(`no source ${JSON.stringify(name)}`, 'syncer source list shows the defined sources');
    const { [name]: _gone, ...rest } = file.sources;
    const path = join(repo.top, SOURCES_FILE);
    const before = readText(path)!;
    writeAtomic(path, serializeSourcesFile({ schema: 1, sources: rest }));
    const state = stateFile(name);
    const paths = [SOURCES_FILE];
    const tracked = await isTracked(repo.git, state);
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
