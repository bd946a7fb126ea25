/** syncer source add: check a definition given as flags, and commit it to `.syncer/sources.json`. */
import { join } from 'node:path';
import { usageError } from '../../errors.js';
import { checkName } from '../../core/names.js';
import type { Runtime } from '../../runtime.js';
import {
  checkDefinition,
  dataFile,
  definitionOptions,
  describeLocation,
  envVars,
  fileStem,
  secretProblems,
  serializeSourcesFile,
  SOURCES_FILE,
  SOURCE_TYPES,
  type Definition,
  type SourcesFile,
} from '../../sources/core/definitions.js';
import { commitPaths, locked, readSources, readText, restorePaths, writeAtomic } from '../../sources/repo.js';
import { openSourceRepo, sourceIo } from './context.js';
import type { AddOptions } from './index.js';

/** The definition the flags describe: only the keys given, validated for the type. */
export function definitionFromFlags(o: AddOptions & { action?: string }, hub: string, type: string): Definition {
  if (!(SOURCE_TYPES as readonly string[]).includes(type)) throw usageError(`invalid --type ${JSON.stringify(type)}`, `one of ${SOURCE_TYPES.join(', ')}`);
  let def: Definition;
  try {
    def = checkDefinition({ type, hub, ...definitionOptions(o) });
  } catch (e) {
    throw usageError(`invalid ${type} source: ${(e as Error).message}`, 'syncer source add --help lists the options of each type');
  }
  const secrets = secretProblems(def);
  if (secrets.length) {
    const hint =
      type === 'postgres'
        ? 'drop the password from --url and name a variable with --password-env (or set PGPASSWORD)'
        : 'drop it from the URL and name a variable with --token-env';
    throw usageError(`refusing to store a secret in ${SOURCES_FILE} (it is versioned): ${secrets.join('; ')}`, hint);
  }
  return def;
}

export async function add(rt: Runtime, o: AddOptions): Promise<void> {
  const name = checkName('source', o.name);
  const hub = checkName('hub', await rt.need(o.hub, '--hub', () => rt.prompter.input('Hub the records go to')));
  const type = await rt.need(o.type, '--type', () =>
    rt.prompter.select(
      'Source type',
      SOURCE_TYPES.map((t) => ({ name: t, value: t })),
    ),
  );
  const def = definitionFromFlags(o, hub, type);
  const repo = await openSourceRepo(rt);
  await locked(sourceIo(rt), repo, `source add of ${name}`, async () => {
    const file = readSources(repo.top);
    if (file.sources[name] && !o.replace) throw usageError(`source ${name} already exists`, 'pass --replace to redefine it, or remove it first');
    refuseFormatClash(file, name, def);
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
    const target = dataFile(name, def);
    const env = envVars(def);
    rt.out.result(
      { source: name, hub: def.hub, type: def.type, file: target, definition: def },
      () => `added source ${name} (${def.type}, ${describeLocation(def)}) -> ${target}${env.length ? `\nreads the secret from $${env.join(', $')}` : ''}`,
    );
  });
}

/** Sources sharing a data file share its format. */
function refuseFormatClash(file: SourcesFile, name: string, def: Definition): void {
  for (const [other, d] of Object.entries(file.sources)) {
    if (other === name) continue;
    if (d.hub === def.hub && fileStem(other, d) === fileStem(name, def) && (d.format ?? 'ndjson') !== (def.format ?? 'ndjson')) {
      throw usageError(`source ${other} already writes ${dataFile(other, d)} as ${d.format ?? 'ndjson'}`, 'sources sharing a file share its --format');
    }
  }
}
