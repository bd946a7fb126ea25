/**
 * The one schema for every configuration value, whether it comes from the config file, the
 * environment or a flag (config.example.json shows every file key). Bounds live here only, so the
 * three sources accept exactly the same values: a value past a bound would overflow Node's timers
 * (2^31-1 ms, then they fire at once) or make a lease outlive any useful retry.
 */
import { z } from 'zod';
import { isName } from '../core/names.js';
import { KNOWN_TRANSPORTS } from '../core/remote-url.js';

/**
 * An etcd member URL: scheme, host and port, nothing else (a trailing slash is tolerated). Without
 * the port gRPC would dial 443 even over http, and a path makes it fail to parse the address.
 */
export const ETCD_HOST = /^https?:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):\d{1,5}\/?$/;

const fmt = (n: number) => n.toLocaleString('en-US');

/** A number from min to max (whole if `whole`), with one message for every way it can be wrong. */
function bounded(min: number, max: number, unit: string, whole = false) {
  const expected = `expected ${whole ? 'a whole number of ' : ''}${unit} from ${fmt(min)} to ${fmt(max)}`;
  const n = z.number({ error: expected }).min(min, expected).max(max, expected);
  return whole ? n.int(expected) : n;
}

const nonEmpty = z.string().refine((s) => s.trim() !== '', 'expected a non-empty value');

export type ValueKind = 'string' | 'list' | 'number';
export interface KeySpec {
  /** The environment variable that overrides the file. */
  env?: string;
  kind: ValueKind;
  /** The rule for the value (for a list, for each entry). */
  schema: z.ZodType;
  /** What one entry of a list is called in messages (default: the key). */
  entry?: string;
  /** An example of a good value, shown when a bad one is refused. */
  example?: string;
}

/** Every key `syncer config get/set` accepts, its environment variable and its rule. */
export const CONFIG_KEYS = {
  operator: { env: 'SYNCER_OPERATOR', kind: 'string', schema: z.string().refine(isName, 'not a valid name (lower case, ^[a-z0-9][a-z0-9._-]{0,62}$)') },
  repoPath: { env: 'SYNCER_REPO', kind: 'string', schema: nonEmpty },
  remote: { env: 'SYNCER_REMOTE', kind: 'string', schema: nonEmpty },
  remoteUrl: { env: 'SYNCER_REMOTE_URL', kind: 'string', schema: nonEmpty },
  importDir: { env: 'SYNCER_IMPORT_DIR', kind: 'string', schema: nonEmpty },
  /** A consortium's trust file: `OPERATOR SHA256:<fingerprint>` lines that decide those operators' keys. */
  trustFile: { env: 'SYNCER_TRUST_FILE', kind: 'string', schema: nonEmpty },
  /**
   * Git transports allowed IN ADDITION to https, ssh, git and file (always allowed), for your own
   * remote and those read from the registry: today only `http` adds anything. Listing the
   * defaults too (older configs did) changes nothing.
   */
  allowedTransports: { env: 'SYNCER_ALLOWED_TRANSPORTS', kind: 'list', example: 'http (https, ssh, git and file are always allowed)', schema: z.enum(KNOWN_TRANSPORTS, { error: `expected any of ${KNOWN_TRANSPORTS.join(', ')}` }) },
  gitStallTimeoutSeconds: { env: 'SYNCER_GIT_STALL_TIMEOUT', kind: 'number', schema: bounded(1, 86_400, 'seconds') },
  lfsThresholdMiB: { env: 'SYNCER_LFS_THRESHOLD_MIB', kind: 'number', schema: bounded(1, 1_048_576, 'MiB') },
  /** Readers refuse a dataset larger than this (LFS files at their real size): default 20 GiB. */
  maxDatasetBytes: { env: 'SYNCER_MAX_DATASET_BYTES', kind: 'number', schema: bounded(1, Number.MAX_SAFE_INTEGER, 'bytes', true) },
  /** Readers refuse a dataset of more files than this: default 1,000,000. */
  maxDatasetFiles: { env: 'SYNCER_MAX_DATASET_FILES', kind: 'number', schema: bounded(1, 1_000_000_000, 'files', true) },
  'etcd.hosts': { env: 'SYNCER_ETCD_HOSTS', kind: 'list', entry: 'etcd host', example: 'http://10.0.0.5:2379', schema: z.string().regex(ETCD_HOST, 'expected http(s)://host:port (with the port, no path)') },
  'etcd.namespace': { env: 'SYNCER_ETCD_NAMESPACE', kind: 'string', schema: nonEmpty },
  'etcd.username': { env: 'SYNCER_ETCD_USERNAME', kind: 'string', schema: z.string() },
  'etcd.password': { env: 'SYNCER_ETCD_PASSWORD', kind: 'string', schema: z.string() },
  'etcd.timeoutMs': { env: 'SYNCER_ETCD_TIMEOUT_MS', kind: 'number', schema: bounded(100, 600_000, 'milliseconds', true) },
  'etcd.tls.ca': { env: 'SYNCER_ETCD_TLS_CA', kind: 'string', schema: z.string() },
  'etcd.tls.cert': { env: 'SYNCER_ETCD_TLS_CERT', kind: 'string', schema: z.string() },
  'etcd.tls.key': { env: 'SYNCER_ETCD_TLS_KEY', kind: 'string', schema: z.string() },
} satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof CONFIG_KEYS;
export const isConfigKey = (k: string): k is ConfigKey => Object.hasOwn(CONFIG_KEYS, k);

/** Environment-only numeric knobs (no file key), with their defaults and the same kind of bounds. */
export const ENV_KNOBS = {
  /** The election lease of `watch --group`: a leader that died is replaced within it. */
  SYNCER_WATCH_LEASE_TTL: { default: 10, schema: bounded(2, 3_600, 'seconds', true) },
  /** The lease of the in-progress marker a sync holds. */
  SYNCER_INPROGRESS_TTL: { default: 30, schema: bounded(2, 3_600, 'seconds', true) },
  /** Records `source pull` holds in memory at once while spooling (tests lower it). */
  SYNCER_SOURCE_CHUNK: { default: 50_000, schema: bounded(1, 10_000_000, 'records', true) },
  /** The first retry pause of HTTP sources (unset: the source's own default). */
  SYNCER_HTTP_BACKOFF_MS: { default: undefined, schema: bounded(1, 600_000, 'milliseconds', true) },
} satisfies Record<string, { default: number | undefined; schema: z.ZodType }>;

export type EnvKnob = keyof typeof ENV_KNOBS;

const value = <K extends ConfigKey>(k: K) => CONFIG_KEYS[k].schema as (typeof CONFIG_KEYS)[K]['schema'];
const list = <K extends ConfigKey>(k: K) => z.array(value(k));

/** The config file's shape, built from the rules above. */
export const fileConfigSchema = z
  .object({
    operator: value('operator').optional(),
    repoPath: value('repoPath').optional(),
    remote: value('remote').optional(),
    remoteUrl: value('remoteUrl').optional(),
    importDir: value('importDir').optional(),
    trustFile: value('trustFile').optional(),
    allowedTransports: list('allowedTransports').optional(),
    gitStallTimeoutSeconds: value('gitStallTimeoutSeconds').optional(),
    lfsThresholdMiB: value('lfsThresholdMiB').optional(),
    maxDatasetBytes: value('maxDatasetBytes').optional(),
    maxDatasetFiles: value('maxDatasetFiles').optional(),
    etcd: z
      .object({
        hosts: list('etcd.hosts').optional(),
        namespace: value('etcd.namespace').optional(),
        username: value('etcd.username').optional(),
        password: value('etcd.password').optional(),
        timeoutMs: value('etcd.timeoutMs').optional(),
        tls: z.object({ ca: value('etcd.tls.ca').optional(), cert: value('etcd.tls.cert').optional(), key: value('etcd.tls.key').optional() }).strict().optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

export type FileConfig = z.infer<typeof fileConfigSchema>;

/** The resolved configuration every command reads. */
export interface Config {
  operator?: string;
  repoPath?: string;
  remote: string;
  remoteUrl?: string;
  importDir?: string;
  /** The consortium's trust file, absolute (runtime.ts reads it). */
  trustFile?: string;
  /** In effect: https, ssh, git, file and whatever the config's `allowedTransports` adds. */
  allowedTransports: string[];
  gitStallTimeoutSeconds: number;
  /** Files over this many MiB are stored with git-lfs (default 50; adapters/lfs.ts reads it). */
  lfsThresholdMiB?: number;
  /** A reader's limits on what a dataset may hold (core/dataset-contents.ts has the defaults). */
  maxDatasetBytes?: number;
  maxDatasetFiles?: number;
  etcd: {
    /** Empty means the embedded local etcd. */
    hosts: string[];
    namespace: string;
    username?: string;
    password?: string;
    timeoutMs: number;
    tls?: { ca?: string; cert?: string; key?: string };
  };
}

export const SECRET_KEYS = new Set(['etcd.password']);
