/** The config file's shape (config.example.json shows every key). */
import { z } from 'zod';
import { isName } from '../core/names.js';

/**
 * An etcd member URL: scheme, host and port, nothing else (a trailing slash is tolerated). Without
 * the port gRPC would dial 443 even over http, and a path makes it fail to parse the address.
 */
export const ETCD_HOST = /^https?:\/\/(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):\d{1,5}\/?$/;

export const fileConfigSchema = z
  .object({
    operator: z.string().refine(isName, 'not a valid name (lower case, ^[a-z0-9][a-z0-9._-]{0,62}$)').optional(),
    repoPath: z.string().min(1).optional(),
    remote: z.string().min(1).optional(),
    remoteUrl: z.string().min(1).optional(),
    importDir: z.string().min(1).optional(),
    /**
     * Git transports allowed IN ADDITION to https, ssh, git and file (always allowed), for your own
     * remote and those read from the registry: today only `http` adds anything. Listing the
     * defaults too (older configs did) changes nothing.
     */
    allowedTransports: z.array(z.enum(['https', 'http', 'ssh', 'git', 'file'])).optional(),
    gitStallTimeoutSeconds: z.number().positive().optional(),
    lfsThresholdMiB: z.number().positive().optional(),
    etcd: z
      .object({
        hosts: z.array(z.string().regex(ETCD_HOST, 'expected http(s)://host:port (with the port)')).optional(),
        namespace: z.string().min(1).optional(),
        username: z.string().optional(),
        password: z.string().optional(),
        timeoutMs: z.number().int().positive().optional(),
        tls: z.object({ ca: z.string().optional(), cert: z.string().optional(), key: z.string().optional() }).strict().optional(),
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
  /** In effect: https, ssh, git, file and whatever the config's `allowedTransports` adds. */
  allowedTransports: string[];
  gitStallTimeoutSeconds: number;
  /** Files over this many MiB are stored with git-lfs (default 50; adapters/lfs.ts reads it). */
  lfsThresholdMiB?: number;
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

/** Every key `syncer config get/set` accepts, with the environment variable that overrides it. */
export const CONFIG_KEYS: Record<string, { env?: string; kind: 'string' | 'list' | 'number' }> = {
  operator: { env: 'SYNCER_OPERATOR', kind: 'string' },
  repoPath: { env: 'SYNCER_REPO', kind: 'string' },
  remote: { env: 'SYNCER_REMOTE', kind: 'string' },
  remoteUrl: { env: 'SYNCER_REMOTE_URL', kind: 'string' },
  importDir: { env: 'SYNCER_IMPORT_DIR', kind: 'string' },
  allowedTransports: { env: 'SYNCER_ALLOWED_TRANSPORTS', kind: 'list' },
  gitStallTimeoutSeconds: { env: 'SYNCER_GIT_STALL_TIMEOUT', kind: 'number' },
  lfsThresholdMiB: { env: 'SYNCER_LFS_THRESHOLD_MIB', kind: 'number' },
  'etcd.hosts': { env: 'SYNCER_ETCD_HOSTS', kind: 'list' },
  'etcd.namespace': { env: 'SYNCER_ETCD_NAMESPACE', kind: 'string' },
  'etcd.username': { env: 'SYNCER_ETCD_USERNAME', kind: 'string' },
  'etcd.password': { env: 'SYNCER_ETCD_PASSWORD', kind: 'string' },
  'etcd.timeoutMs': { env: 'SYNCER_ETCD_TIMEOUT_MS', kind: 'number' },
  'etcd.tls.ca': { env: 'SYNCER_ETCD_TLS_CA', kind: 'string' },
  'etcd.tls.cert': { env: 'SYNCER_ETCD_TLS_CERT', kind: 'string' },
  'etcd.tls.key': { env: 'SYNCER_ETCD_TLS_KEY', kind: 'string' },
};

export const SECRET_KEYS = new Set(['etcd.password']);
