/**
 * Config precedence in one place: defaults < file < environment < flags. Pure: the caller reads
 * the file and hands over env and flags.
 */
import { isAbsolute, resolve } from 'node:path';
import { usageError } from '../errors.js';
import { ETCD_HOST, fileConfigSchema, CONFIG_KEYS, type Config, type FileConfig } from './schema.js';
import { effectiveTransports, KNOWN_TRANSPORTS } from '../core/remote-url.js';

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
  return value.split(',').map((s) => s.trim()).filter(Boolean);
}

export function fromEnv(env: NodeJS.ProcessEnv): Flat {
  const flat: Flat = {};
  for (const [key, spec] of Object.entries(CONFIG_KEYS)) {
    const raw = spec.env ? env[spec.env] : undefined;
    if (raw === undefined || raw === '') continue;
    if (spec.kind === 'list') flat[key] = parseList(raw);
    else if (spec.kind === 'number') {
      const n = Number(raw);
      if (!Number.isFinite(n) || n <= 0) throw usageError(`${spec.env} must be a positive number, got ${JSON.stringify(raw)}`);
      flat[key] = n;
    } else flat[key] = raw;
  }
  // Inside a `watch --exec` command, SYNCER_OPERATOR names the event's operator (issue 4's event
  // environment), not ours: a `syncer` run there keeps the watcher's own operator, which watch
  // passes as SYNCER_WATCHER_OPERATOR (or the config file's).
  if (env.SYNCER_EVENT_ID !== undefined) {
    delete flat.operator;
    if (env.SYNCER_WATCHER_OPERATOR) flat.operator = env.SYNCER_WATCHER_OPERATOR;
  }
  return flat;
}

function fromFlags(flags: ConfigFlags): Flat {
  const flat: Flat = {};
  if (flags.etcdHosts !== undefined) flat['etcd.hosts'] = parseList(flags.etcdHosts);
  if (flags.namespace !== undefined) flat['etcd.namespace'] = flags.namespace;
  return flat;
}

export function validateFileConfig(raw: unknown, source: string): FileConfig {
  const parsed = fileConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw usageError(`invalid config in ${source}: ${issue.path.join('.') || '(root)'}: ${issue.message}`, 'fix it with `syncer config set` or edit the file');
  }
  return parsed.data;
}

/** Relative paths in a file are relative to the file; in env and flags, to the working directory. */
function absolutize(p: string | undefined, base: string): string | undefined {
  return p === undefined ? undefined : isAbsolute(p) ? p : resolve(base, p);
}

export function resolveConfig(input: { file: FileConfig; fileDir: string; env: NodeJS.ProcessEnv; flags: ConfigFlags; cwd: string }): Config {
  const fileFlat = flatten(input.file);
  for (const k of ['repoPath', 'importDir', 'etcd.tls.ca', 'etcd.tls.cert', 'etcd.tls.key']) {
    if (typeof fileFlat[k] === 'string') fileFlat[k] = absolutize(fileFlat[k] as string, input.fileDir);
  }
  const envFlat = fromEnv(input.env);
  for (const k of ['repoPath', 'importDir', 'etcd.tls.ca', 'etcd.tls.cert', 'etcd.tls.key']) {
    if (typeof envFlat[k] === 'string') envFlat[k] = absolutize(envFlat[k] as string, input.cwd);
  }
  const merged: Flat = { ...fileFlat, ...envFlat, ...fromFlags(input.flags) };
  const str = (k: string) => merged[k] as string | undefined;
  const hosts = ((merged['etcd.hosts'] as string[] | undefined) ?? []).map((h) => {
    if (!ETCD_HOST.test(h)) throw usageError(`invalid etcd host ${JSON.stringify(h)}: expected http(s)://host:port (with the port, no path)`, 'e.g. http://10.0.0.5:2379');
    return h.replace(/\/$/, '');
  });
  const tls = { ca: str('etcd.tls.ca'), cert: str('etcd.tls.cert'), key: str('etcd.tls.key') };
  const extraTransports = (merged.allowedTransports as string[] | undefined) ?? [];
  const unknown = extraTransports.find((t) => !(KNOWN_TRANSPORTS as readonly string[]).includes(t));
  if (unknown !== undefined) {
    throw usageError(`invalid allowedTransports entry ${JSON.stringify(unknown)}: expected any of ${KNOWN_TRANSPORTS.join(', ')}`, 'e.g. syncer config set allowedTransports http (https, ssh, git and file are always allowed)');
  }
  const operator = str('operator');
  if (operator !== undefined) {
    const check = fileConfigSchema.shape.operator.safeParse(operator);
    if (!check.success) throw usageError(`invalid operator ${JSON.stringify(operator)}: ${check.error.issues[0]!.message}`);
  }
  return {
    operator,
    repoPath: str('repoPath'),
    remote: str('remote') ?? DEFAULTS.remote,
    remoteUrl: str('remoteUrl'),
    importDir: str('importDir'),
    // What the config lists is allowed in addition to the defaults (an old config listing them is the same).
    allowedTransports: effectiveTransports(extraTransports),
    gitStallTimeoutSeconds: (merged.gitStallTimeoutSeconds as number | undefined) ?? DEFAULTS.gitStallTimeoutSeconds,
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
