import { describe, expect, it } from 'vitest';
import { envKnob, resolveConfig, validateFileConfig } from '../../src/config/resolve.js';
import { CONFIG_KEYS, ENV_KNOBS, fileConfigSchema } from '../../src/config/schema.js';
import { SyncerError } from '../../src/errors.js';

const base = { fileDir: '/home/u/.config/syncer', cwd: '/work', flags: {} };

describe('config precedence: defaults < file < env < flags', () => {
  it('uses defaults', () => {
    const c = resolveConfig({ ...base, file: {}, env: {} });
    expect(c.remote).toBe('origin');
    expect(c.etcd.namespace).toBe('syncer/');
    expect(c.etcd.hosts).toEqual([]);
    expect(c.etcd.timeoutMs).toBe(5000);
  });
  it('file over defaults, env over file, flags over env', () => {
    const file = { operator: 'lab-a', remote: 'upstream', etcd: { hosts: ['http://file:2379'], namespace: 'file/' } };
    const env = { SYNCER_OPERATOR: 'lab-env', SYNCER_ETCD_HOSTS: 'http://env1:2379, http://env2:2379', SYNCER_ETCD_NAMESPACE: 'env/' };
    const c = resolveConfig({ ...base, file, env, flags: { namespace: 'flag/' } });
    expect(c.operator).toBe('lab-env');
    expect(c.remote).toBe('upstream');
    expect(c.etcd.hosts).toEqual(['http://env1:2379', 'http://env2:2379']);
    expect(c.etcd.namespace).toBe('flag/');
    const d = resolveConfig({ ...base, file, env, flags: { etcdHosts: 'http://flag:2379' } });
    expect(d.etcd.hosts).toEqual(['http://flag:2379']);
  });
  it('resolves relative paths against the file, or the cwd for env', () => {
    const c = resolveConfig({ ...base, file: { repoPath: 'data' }, env: { SYNCER_IMPORT_DIR: 'imports' } });
    expect(c.repoPath).toBe('/home/u/.config/syncer/data');
    expect(c.importDir).toBe('/work/imports');
  });
  it('refuses bad values with exit 2', () => {
    expect(() => resolveConfig({ ...base, file: {}, env: { SYNCER_OPERATOR: 'Bad Name' } })).toThrow(/invalid operator/);
    expect(() => resolveConfig({ ...base, file: {}, env: { SYNCER_ETCD_HOSTS: 'localhost:2379' } })).toThrow(/etcd host/);
    // Without a port gRPC would dial 443; a path makes it fail to parse the address.
    expect(() => resolveConfig({ ...base, file: {}, env: { SYNCER_ETCD_HOSTS: 'http://127.0.0.1' } })).toThrow(/with the port/);
    expect(() => resolveConfig({ ...base, file: {}, env: {}, flags: { etcdHosts: 'http://10.0.0.5:2379/v3' } })).toThrow(/no path/);
    expect(fileConfigSchema.safeParse({ etcd: { hosts: ['http://127.0.0.1'] } }).success).toBe(false);
    expect(() => resolveConfig({ ...base, file: {}, env: { SYNCER_ETCD_TIMEOUT_MS: 'soon' } })).toThrow(
      /SYNCER_ETCD_TIMEOUT_MS: expected a whole number of milliseconds/,
    );
  });
  it("inside a watch --exec command, SYNCER_OPERATOR is the event's: the watcher's own operator is kept", () => {
    const file = { operator: 'me-file' };
    const hook = { SYNCER_EVENT_ID: 'syncer/datasets/h/2026-01-01/peer@7', SYNCER_OPERATOR: 'peer' };
    expect(resolveConfig({ ...base, file, env: hook }).operator).toBe('me-file');
    expect(resolveConfig({ ...base, file, env: { ...hook, SYNCER_WATCHER_OPERATOR: 'me-env' } }).operator).toBe('me-env');
    expect(resolveConfig({ ...base, file, env: { SYNCER_OPERATOR: 'me-env' } }).operator).toBe('me-env');
  });
  it('accepts a trailing slash and IPv6 members, and drops the slash', () => {
    const c = resolveConfig({ ...base, file: {}, env: { SYNCER_ETCD_HOSTS: 'http://127.0.0.1:2379/,https://[::1]:2379' } });
    expect(c.etcd.hosts).toEqual(['http://127.0.0.1:2379', 'https://[::1]:2379']);
  });
});

/** Issue 10 "Bad values": one schema, with bounds, for the file, the environment and flags. */
describe('bounds: one schema for file, environment and flags (exit 2 naming the key and its source)', () => {
  const FILE = '/home/u/.config/syncer/config.json';
  const refused = (f: () => unknown): SyncerError => {
    try {
      f();
    } catch (e) {
      expect(e).toBeInstanceOf(SyncerError);
      expect((e as SyncerError).exitCode).toBe(2);
      expect((e as SyncerError).message).not.toContain('\n');
      return e as SyncerError;
    }
    throw new Error('not refused');
  };
  const fromFile = (file: object) => () => validateFileConfig(file, FILE);
  const fromEnvironment = (env: Record<string, string>) => () => resolveConfig({ ...base, file: {}, env });

  it('the file: values that overflow Node timers are refused, naming the key and the file', () => {
    expect(refused(fromFile({ gitStallTimeoutSeconds: 3_000_000 })).message).toMatch(
      /gitStallTimeoutSeconds 3000000 from config file \/home\/u\/.config\/syncer\/config.json: expected seconds from 1 to 86,400/,
    );
    expect(refused(fromFile({ etcd: { timeoutMs: 1e12 } })).message).toMatch(
      /etcd.timeoutMs 1000000000000 from config file .*config.json: expected a whole number of milliseconds from 100 to 600,000/,
    );
    expect(refused(fromFile({ etcd: { timeoutMs: 99 } })).message).toMatch(/etcd.timeoutMs 99 /);
    expect(refused(fromFile({ lfsThresholdMiB: 0.5 })).message).toMatch(/lfsThresholdMiB 0.5 from config file/);
    expect(refused(fromFile({ lfsThresholdMiB: 2_000_000 })).message).toMatch(/MiB from 1 to 1,048,576/);
    expect(refused(fromFile({ allowedTransports: ['htps'] })).message).toMatch(
      /allowedTransports "htps" from config file .*: expected any of https, http, ssh, git, file/,
    );
    expect(refused(fromFile({ colour: 'blue' })).message).toMatch(/config file .*config.json: .*colour/);
    expect(validateFileConfig({ gitStallTimeoutSeconds: 86_400, lfsThresholdMiB: 1, etcd: { timeoutMs: 100 } }, FILE)).toEqual({
      gitStallTimeoutSeconds: 86_400,
      lfsThresholdMiB: 1,
      etcd: { timeoutMs: 100 },
    });
    expect(validateFileConfig({ gitStallTimeoutSeconds: 1, lfsThresholdMiB: 1_048_576, etcd: { timeoutMs: 600_000 } }, FILE).etcd?.timeoutMs).toBe(600_000);
  });

  it('the environment: the same bounds, naming the key and the variable', () => {
    expect(refused(fromEnvironment({ SYNCER_GIT_STALL_TIMEOUT: '3000000' })).message).toBe(
      'invalid gitStallTimeoutSeconds "3000000" from environment variable SYNCER_GIT_STALL_TIMEOUT: expected seconds from 1 to 86,400',
    );
    expect(refused(fromEnvironment({ SYNCER_ETCD_TIMEOUT_MS: '1e12' })).message).toMatch(
      /etcd.timeoutMs "1e12" from environment variable SYNCER_ETCD_TIMEOUT_MS: expected a whole number of milliseconds from 100 to 600,000/,
    );
    expect(refused(fromEnvironment({ SYNCER_ETCD_TIMEOUT_MS: '2500.5' })).message).toMatch(/SYNCER_ETCD_TIMEOUT_MS/);
    expect(refused(fromEnvironment({ SYNCER_LFS_THRESHOLD_MIB: '0' })).message).toMatch(
      /lfsThresholdMiB "0" from environment variable SYNCER_LFS_THRESHOLD_MIB/,
    );
    expect(refused(fromEnvironment({ SYNCER_ALLOWED_TRANSPORTS: 'http,htps' })).message).toBe(
      'invalid allowedTransports "htps" from environment variable SYNCER_ALLOWED_TRANSPORTS: expected any of https, http, ssh, git, file',
    );
    expect(refused(fromEnvironment({ SYNCER_ETCD_NAMESPACE: ' ' })).message).toMatch(/SYNCER_ETCD_NAMESPACE/);
    const ok = resolveConfig({
      ...base,
      file: {},
      env: { SYNCER_GIT_STALL_TIMEOUT: '86400', SYNCER_ETCD_TIMEOUT_MS: '600000', SYNCER_LFS_THRESHOLD_MIB: '2' },
    });
    expect([ok.gitStallTimeoutSeconds, ok.etcd.timeoutMs, ok.lfsThresholdMiB]).toEqual([86_400, 600_000, 2]);
  });

  it('file and environment accept and refuse exactly the same numbers', () => {
    const cases: [string, string, (v: number) => object][] = [
      ['gitStallTimeoutSeconds', 'SYNCER_GIT_STALL_TIMEOUT', (v) => ({ gitStallTimeoutSeconds: v })],
      ['etcd.timeoutMs', 'SYNCER_ETCD_TIMEOUT_MS', (v) => ({ etcd: { timeoutMs: v } })],
      ['lfsThresholdMiB', 'SYNCER_LFS_THRESHOLD_MIB', (v) => ({ lfsThresholdMiB: v })],
    ];
    for (const [key, variable, file] of cases) {
      for (const v of [-1, 0, 0.5, 1, 99, 100, 1.5, 3600, 86_400, 86_401, 600_000, 600_001, 1_048_576, 1_048_577, 3e6, 1e12]) {
        const inFile = fileConfigSchema.safeParse(file(v)).success;
        let inEnv = true;
        try {
          resolveConfig({ ...base, file: {}, env: { [variable]: String(v) } });
        } catch {
          inEnv = false;
        }
        expect(inEnv, `${key}=${v}`).toBe(inFile);
      }
    }
  });

  it('environment-only knobs are bounded: lease TTLs 2-3,600 s, and the rest', () => {
    expect(envKnob({}, 'SYNCER_WATCH_LEASE_TTL')).toBe(10);
    expect(envKnob({}, 'SYNCER_INPROGRESS_TTL')).toBe(30);
    expect(envKnob({ SYNCER_WATCH_LEASE_TTL: '3600' }, 'SYNCER_WATCH_LEASE_TTL')).toBe(3600);
    expect(envKnob({ SYNCER_INPROGRESS_TTL: '2' }, 'SYNCER_INPROGRESS_TTL')).toBe(2);
    expect(refused(() => envKnob({ SYNCER_WATCH_LEASE_TTL: '99999999999' }, 'SYNCER_WATCH_LEASE_TTL')).message).toBe(
      'invalid SYNCER_WATCH_LEASE_TTL "99999999999" from the environment: expected a whole number of seconds from 2 to 3,600',
    );
    expect(refused(() => envKnob({ SYNCER_INPROGRESS_TTL: '1' }, 'SYNCER_INPROGRESS_TTL')).message).toMatch(/SYNCER_INPROGRESS_TTL "1"/);
    expect(refused(() => envKnob({ SYNCER_INPROGRESS_TTL: '2.5' }, 'SYNCER_INPROGRESS_TTL')).message).toMatch(/whole number/);
    expect(refused(() => envKnob({ SYNCER_SOURCE_CHUNK: '0' }, 'SYNCER_SOURCE_CHUNK')).message).toMatch(/SYNCER_SOURCE_CHUNK/);
    expect(refused(() => envKnob({ SYNCER_HTTP_BACKOFF_MS: '1e12' }, 'SYNCER_HTTP_BACKOFF_MS')).message).toMatch(/SYNCER_HTTP_BACKOFF_MS/);
    expect(envKnob({}, 'SYNCER_HTTP_BACKOFF_MS')).toBeUndefined();
    // Refused as soon as the configuration is resolved, whatever the command: before any prompt or work.
    expect(refused(fromEnvironment({ SYNCER_WATCH_LEASE_TTL: '99999999999' })).message).toMatch(/SYNCER_WATCH_LEASE_TTL/);
    expect(refused(fromEnvironment({ SYNCER_SOURCE_CHUNK: 'lots' })).message).toMatch(/SYNCER_SOURCE_CHUNK "lots"/);
  });

  it('every numeric value has an upper bound Node timers can hold (2^31-1 ms)', () => {
    // Sizes never reach a timer; they are bounded by what a number holds exactly.
    const sizes = new Set(['maxDatasetBytes']);
    for (const [key, spec] of Object.entries(CONFIG_KEYS))
      if (spec.kind === 'number' && !sizes.has(key)) expect(spec.schema.safeParse(2 ** 31).success, key).toBe(false);
    expect(CONFIG_KEYS.maxDatasetBytes.schema.safeParse(2 ** 53).success).toBe(false);
    for (const [name, knob] of Object.entries(ENV_KNOBS)) expect(knob.schema.safeParse(2 ** 31).success, name).toBe(false);
  });

  it('flags: the same schema, naming the flag', () => {
    expect(refused(() => resolveConfig({ ...base, file: {}, env: {}, flags: { namespace: '' } })).message).toMatch(/etcd.namespace "" from flag --namespace/);
    expect(refused(() => resolveConfig({ ...base, file: {}, env: {}, flags: { etcdHosts: 'http://127.0.0.1' } })).message).toMatch(
      /invalid etcd host "http:\/\/127.0.0.1" from flag --etcd-hosts/,
    );
  });
});
