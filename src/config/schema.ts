/**
 * The one schema for every configuration value, whether it comes from the config file, the
 * environment or a flag (config.example.json shows every file key). Bounds live here only, so the
 * three sources accept exactly the same values: a value past a bound would overflow Node's timers
 * (2^31-1 ms, then they fire at once) or make a lease outlive any useful retry.
 */
import * as v from 'valibot';
import { HANDSHAKE_DEFAULTS } from '../core/git-failure.js';
import { isName } from '../core/names.js';
import { KNOWN_TRANSPORTS } from '../core/remote-url.js';
import { checked, type Checked, type Infer, list, number, oneOf, string, strict } from '../core/schema-kit.js';

/**
 * An etcd member URL: scheme, host and port, nothing else (a trailing slash is tolerated). Without
 * the port gRPC would dial 443 even over http, and a path makes it fail to parse the address.
 */
export const ETCD_HOST = /^https?:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):\d{1,5}\/?$/;

const fmt = (n: number) => n.toLocaleString('en-US');

/** A number from min to max (whole if `whole`), with one message for every way it can be wrong. */
function bounded(min: number, max: number, unit: string, whole = false) {
  const expected = `expected ${whole ? 'a whole number of ' : ''}${unit} from ${fmt(min)} to ${fmt(max)}`;
  return checked(
    v.pipe(
      number(expected),
      v.minValue(min, expected),
      v.maxValue(max, expected),
      v.check((n) => !whole || Number.isInteger(n), expected),
    ),
  );
}

const nonEmpty = checked(
  v.pipe(
    string(),
    v.check((s) => s.trim() !== '', 'expected a non-empty value'),
  ),
);
const anyString = () => checked(string());

export type ValueKind = 'string' | 'list' | 'number';
export interface KeySpec {
  /** The environment variable that overrides the file. */
  env?: string;
  kind: ValueKind;
  /** The rule for the value (for a list, for each entry). */
  schema: Checked<v.GenericSchema>;
  /** What one entry of a list is called in messages (default: the key). */
  entry?: string;
  /** An example of a good value, shown when a bad one is refused. */
  example?: string;
}

/** Every key `syncer config get/set` accepts, its environment variable and its rule. */
export const CONFIG_KEYS = {
  operator: {
    env: 'SYNCER_OPERATOR',
    kind: 'string',
    schema: checked(v.pipe(string(), v.check(isName, 'not a valid name (lower case, ^[a-z0-9][a-z0-9._-]{0,62}$)'))),
  },
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
  allowedTransports: {
    env: 'SYNCER_ALLOWED_TRANSPORTS',
    kind: 'list',
    example: 'http (https, ssh, git and file are always allowed)',
    schema: checked(oneOf(KNOWN_TRANSPORTS, `expected any of ${KNOWN_TRANSPORTS.join(', ')}`)),
  },
  gitStallTimeoutSeconds: { env: 'SYNCER_GIT_STALL_TIMEOUT', kind: 'number', schema: bounded(1, 86_400, 'seconds') },
  lfsThresholdMiB: { env: 'SYNCER_LFS_THRESHOLD_MIB', kind: 'number', schema: bounded(1, 1_048_576, 'MiB') },
  /** Readers refuse a dataset larger than this (LFS files at their real size): default 20 GiB. */
  maxDatasetBytes: { env: 'SYNCER_MAX_DATASET_BYTES', kind: 'number', schema: bounded(1, Number.MAX_SAFE_INTEGER, 'bytes', true) },
  /** Readers refuse a dataset of more files than this: default 1,000,000. */
  maxDatasetFiles: { env: 'SYNCER_MAX_DATASET_FILES', kind: 'number', schema: bounded(1, 1_000_000_000, 'files', true) },
  'etcd.hosts': {
    env: 'SYNCER_ETCD_HOSTS',
    kind: 'list',
    entry: 'etcd host',
    example: 'http://10.0.0.5:2379',
    schema: checked(v.pipe(string(), v.regex(ETCD_HOST, 'expected http(s)://host:port (with the port, no path)'))),
  },
  'etcd.namespace': { env: 'SYNCER_ETCD_NAMESPACE', kind: 'string', schema: nonEmpty },
  'etcd.username': { env: 'SYNCER_ETCD_USERNAME', kind: 'string', schema: anyString() },
  'etcd.password': { env: 'SYNCER_ETCD_PASSWORD', kind: 'string', schema: anyString() },
  'etcd.timeoutMs': { env: 'SYNCER_ETCD_TIMEOUT_MS', kind: 'number', schema: bounded(100, 600_000, 'milliseconds', true) },
  'etcd.tls.ca': { env: 'SYNCER_ETCD_TLS_CA', kind: 'string', schema: anyString() },
  'etcd.tls.cert': { env: 'SYNCER_ETCD_TLS_CERT', kind: 'string', schema: anyString() },
  'etcd.tls.key': { env: 'SYNCER_ETCD_TLS_KEY', kind: 'string', schema: anyString() },
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
  /** What a git fetch, ls-remote or push may read before the pack begins (the remote's refs and messages). */
  SYNCER_GIT_HANDSHAKE_MIB: { default: HANDSHAKE_DEFAULTS.mib, schema: bounded(1, 65_536, 'MiB', true) },
  /** How long that may last (bytes moving or not). */
  SYNCER_GIT_HANDSHAKE_TIMEOUT: { default: HANDSHAKE_DEFAULTS.seconds, schema: bounded(1, 86_400, 'seconds', true) },
  /** The first retry pause of HTTP sources (unset: the source's own default). */
  SYNCER_HTTP_BACKOFF_MS: { default: undefined, schema: bounded(1, 600_000, 'milliseconds', true) },
} satisfies Record<string, { default: number | undefined; schema: Checked<v.GenericSchema<unknown, number>> }>;

export type EnvKnob = keyof typeof ENV_KNOBS;

const value = <K extends ConfigKey>(k: K) => CONFIG_KEYS[k].schema as (typeof CONFIG_KEYS)[K]['schema'];
const entries = <K extends ConfigKey>(k: K) => list(value(k));

/** The config file's shape, built from the rules above. */
export const fileConfigSchema = checked(
  strict({
    operator: v.optional(value('operator')),
    repoPath: v.optional(value('repoPath')),
    remote: v.optional(value('remote')),
    remoteUrl: v.optional(value('remoteUrl')),
    importDir: v.optional(value('importDir')),
    trustFile: v.optional(value('trustFile')),
    allowedTransports: v.optional(entries('allowedTransports')),
    gitStallTimeoutSeconds: v.optional(value('gitStallTimeoutSeconds')),
    lfsThresholdMiB: v.optional(value('lfsThresholdMiB')),
    maxDatasetBytes: v.optional(value('maxDatasetBytes')),
    maxDatasetFiles: v.optional(value('maxDatasetFiles')),
    etcd: v.optional(
      strict({
        hosts: v.optional(entries('etcd.hosts')),
        namespace: v.optional(value('etcd.namespace')),
        username: v.optional(value('etcd.username')),
        password: v.optional(value('etcd.password')),
        timeoutMs: v.optional(value('etcd.timeoutMs')),
        tls: v.optional(strict({ ca: v.optional(value('etcd.tls.ca')), cert: v.optional(value('etcd.tls.cert')), key: v.optional(value('etcd.tls.key')) })),
      }),
    ),
  }),
);

export type FileConfig = Infer<typeof fileConfigSchema>;

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
