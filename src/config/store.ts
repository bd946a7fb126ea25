/**
 * The config file: `--config FILE`, else $SYNCER_CONFIG, else the per-user store. Read and written
 * through `conf` (atomic writes, mode 0600: the file may hold an etcd password).
 */
import { existsSync, readFileSync, chmodSync } from 'node:fs';
import { basename, dirname, extname } from 'node:path';
import { usageError } from '../errors.js';
import { makeDirs } from '../adapters/dirs.js';
import { validateFileConfig } from './resolve.js';
import { fileConfigSchema, type FileConfig } from './schema.js';

export function configFilePath(flag: string | undefined, env: NodeJS.ProcessEnv, defaultFile: string): string {
  return flag || env.SYNCER_CONFIG || defaultFile;
}

/**
 * The file's JSON as it is, not yet validated; a missing file is an empty config. A file that cannot
 * be parsed (truncated, not JSON, not an object) is exit 2 naming it: never read as empty, so never
 * overwritten by a write that would lose what it held.
 */
export function readRawConfigFile(file: string): Record<string, unknown> {
  if (!existsSync(file)) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw usageError(`cannot read config ${file}: ${(e as Error).message}`, 'fix the JSON or remove the file and run `syncer init`');
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw usageError(
      `cannot read config ${file}: expected a JSON object, found ${raw === null ? 'null' : Array.isArray(raw) ? 'an array' : typeof raw}`,
      'fix the JSON or remove the file and run `syncer init`',
    );
  }
  return raw as Record<string, unknown>;
}

/** Read and validate; a missing file is an empty config. */
export function readConfigFile(file: string): FileConfig {
  return validateFileConfig(readRawConfigFile(file), file);
}

/**
 * conf is loaded only when writing: its atomic-write dependency hooks SIGINT/SIGTERM and re-raises
 * them at once, which would cut short the clean-up every other command does on interrupt.
 */
async function open(file: string) {
  // conf makes the directory with Node's recursive mkdir, which never returns under /proc: make it first.
  makeDirs(dirname(file));
  const { default: Conf } = await import('conf');
  const ext = extname(file);
  return new Conf<Record<string, unknown>>({
    cwd: dirname(file),
    configName: basename(file, ext),
    fileExtension: ext.replace(/^\./, ''),
    configFileMode: 0o600,
    projectName: 'syncer',
    projectSuffix: '',
    clearInvalidConfig: false,
    accessPropertiesByDotNotation: true,
  });
}

/** Write a whole validated config. */
export async function writeConfigFile(file: string, config: FileConfig): Promise<void> {
  const valid = validateFileConfig(config, file);
  const store = await open(file);
  store.store = valid as Record<string, unknown>;
  chmodSync(file, 0o600);
}

/**
 * Set or delete one dotted key, validating the result before it is written. The file is read
 * unvalidated, so a value that is out of bounds today can still be fixed with `config set`.
 */
export async function updateConfigKey(file: string, key: string, value: unknown): Promise<void> {
  const next = structuredClone(readRawConfigFile(file));
  const parts = key.split('.');
  let node: Record<string, unknown> = next;
  for (const part of parts.slice(0, -1)) {
    if (typeof node[part] !== 'object' || node[part] === null) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  if (value === undefined) delete node[parts.at(-1)!];
  else node[parts.at(-1)!] = value;
  const parsed = fileConfigSchema.safeParse(next);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const where = issue.path.join('.');
    if (where === key || where.startsWith(`${key}.`)) {
      const given = issue.path.reduce<unknown>((n, p) => (n as Record<PropertyKey, unknown> | undefined)?.[p as PropertyKey], next);
      throw usageError(`invalid value for ${key}: ${issue.message}, got ${JSON.stringify(given)} (config not changed)`);
    }
    throw usageError(
      `invalid config in ${file}: ${where || '(root)'}: ${issue.message} (config not changed)`,
      `fix that key first: syncer config set ${where} VALUE, or syncer config unset ${where}`,
    );
  }
  await writeConfigFile(file, parsed.data);
}

export function getConfigKey(config: FileConfig, key: string): unknown {
  let node: unknown = config;
  for (const part of key.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}
