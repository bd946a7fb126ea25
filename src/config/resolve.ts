/**
 * Config precedence in one place: defaults < file < environment < flags. Pure: the caller reads
 * the file and hands over env and flags.
 */
import { isAbsolute, resolve } from 'node:path';
import { CONFIG_KEYS, type Config, type ConfigKey, type FileConfig } from './schema.js';
import { checkEnvKnobs, checkValue, validateFileConfig } from './check.js';
import { effectiveTransports } from '../core/remote-url.js';

export { envKnob, validateFileConfig } from './check.js';

export const DEFAULTS = {
  remote: 'origin',
  namespace: 'syncer/',
  etcdTimeoutMs: 5000,
  gitStallTimeoutSeconds: 60,
  /** Always allowed; `allowedTransports` adds to them (see effectiveTransports). */
  allowedTransports: ['https', 'ssh', 'git', 'file'],
};

/** Flags that override config keys (global flags and per-command ones). */
export interface ConfigFlags {
  etcdHosts?: string;
  namespace?: string;
}

type Flat = Record<string, string | string[] | number | undefined>;

function flatten(file: FileConfig): Flat {
  const flat: Flat = {};
  const walk = (obj: Record<string, unknown>, prefix: string) => {
    for (const [k, v] of Object.entries(obj)) {
      if (v && typeof v === 'object' && !Array.isArray(v)) walk(v as Record<string, unknown>, `${prefix}${k}.`);
      else flat[`${prefix}${k}`] = v as Flat[string];
    }
  };
  walk(file as Record<string, unknown>, '');
  return flat;
}

export function parseList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The environment's config values, parsed and checked against the schema (exit 2 naming the variable). */
export function fromEnv(env: NodeJS.ProcessEnv): Flat {
  const flat: Flat = {};
  const raws: Record<string, string> = {};
  const vars: Record<string, string> = {};
  for (const [key, spec] of Object.entries(CONFIG_KEYS)) {
    const raw = env[spec.env];
    if (raw === undefined || raw === '') continue;
    flat[key] = spec.kind === 'list' ? parseList(raw) : spec.kind === 'number' ? Number(raw) : raw;
    raws[key] = raw;
    vars[key] = spec.env;
  }
  // Inside a `watch --exec` command, SYNCER_OPERATOR names the event's operator (issue 4's event
  // environment), not ours: a `syncer` run there keeps the watcher's own operator, which watch
  // passes as SYNCER_WATCHER_OPERATOR (or the config file's).
  if (env.SYNCER_EVENT_ID !== undefined) {
    delete flat.operator;
    if (env.SYNCER_WATCHER_OPERATOR) {
      flat.operator = raws.operator = env.SYNCER_WATCHER_OPERATOR;
      vars.operator = 'SYNCER_WATCHER_OPERATOR';
    }
  }
  for (const key of Object.keys(flat) as ConfigKey[]) {
    checkValue(key, flat[key], `environment variable ${vars[key]}`, `fix or unset ${vars[key]}`, raws[key]);
  }
  return flat;
}

const FLAG_NAMES: Partial<Record<ConfigKey, string>> = { 'etcd.hosts': '--etcd-hosts', 'etcd.namespace': '--namespace' };

function fromFlags(flags: ConfigFlags): Flat {
  const flat: Flat = {};
  if (flags.etcdHosts !== undefined) flat['etcd.hosts'] = parseList(flags.etcdHosts);
  if (flags.namespace !== undefined) flat['etcd.namespace'] = flags.namespace;
  for (const key of Object.keys(flat) as ConfigKey[]) checkValue(key, flat[key], `flag ${FLAG_NAMES[key]}`);
  return flat;
}

/** Relative paths in a file are relative to the file; in env and flags, to the working directory. */
function absolutize(p: string | undefined, base: string): string | undefined {
  return p === undefined ? undefined : isAbsolute(p) ? p : resolve(base, p);
}

export function resolveConfig(input: {
  file: FileConfig;
  fileDir: string;
  env: NodeJS.ProcessEnv;
  flags: ConfigFlags;
  cwd: string;
  filePath?: string;
}): Config {
  // The file was checked when read; checked again here for a config built in memory (init).
  validateFileConfig(input.file, input.filePath ?? `in ${input.fileDir}`);
  checkEnvKnobs(input.env);
  const fileFlat = flatten(input.file);
  for (const k of ['repoPath', 'importDir', 'trustFile', 'etcd.tls.ca', 'etcd.tls.cert', 'etcd.tls.key']) {
    if (typeof fileFlat[k] === 'string') fileFlat[k] = absolutize(fileFlat[k] as string, input.fileDir);
  }
  const envFlat = fromEnv(input.env);
  for (const k of ['repoPath', 'importDir', 'trustFile', 'etcd.tls.ca', 'etcd.tls.cert', 'etcd.tls.key']) {
    if (typeof envFlat[k] === 'string') envFlat[k] = absolutize(envFlat[k] as string, input.cwd);
  }
  const merged: Flat = { ...fileFlat, ...envFlat, ...fromFlags(input.flags) };
  const str = (k: string) => merged[k] as string | undefined;
  // Each value was checked against the schema where it came from (file, environment, flag).
  const hosts = ((merged['etcd.hosts'] as string[] | undefined) ?? []).map((h) => h.replace(/\/$/, ''));
  const tls = { ca: str('etcd.tls.ca'), cert: str('etcd.tls.cert'), key: str('etcd.tls.key') };
  const extraTransports = (merged.allowedTransports as string[] | undefined) ?? [];
  const operator = str('operator');
  return {
    operator,
    repoPath: str('repoPath'),
    remote: str('remote') ?? DEFAULTS.remote,
    remoteUrl: str('remoteUrl'),
    importDir: str('importDir'),
    trustFile: str('trustFile'),
    // What the config lists is allowed in addition to the defaults (an old config listing them is the same).
    allowedTransports: effectiveTransports(extraTransports),
    gitStallTimeoutSeconds: (merged.gitStallTimeoutSeconds as number | undefined) ?? DEFAULTS.gitStallTimeoutSeconds,
    lfsThresholdMiB: merged.lfsThresholdMiB as number | undefined,
    maxDatasetBytes: merged.maxDatasetBytes as number | undefined,
    maxDatasetFiles: merged.maxDatasetFiles as number | undefined,
    etcd: {
      hosts,
      namespace: str('etcd.namespace') ?? DEFAULTS.namespace,
      username: str('etcd.username'),
      password: str('etcd.password'),
      timeoutMs: (merged['etcd.timeoutMs'] as number | undefined) ?? DEFAULTS.etcdTimeoutMs,
      tls: tls.ca || tls.cert || tls.key ? tls : undefined,
    },
  };
}
