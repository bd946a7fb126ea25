import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../src/config/resolve.js';
import { fileConfigSchema } from '../../src/config/schema.js';

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
    expect(() => resolveConfig({ ...base, file: {}, env: { SYNCER_ETCD_TIMEOUT_MS: 'soon' } })).toThrow(/positive number/);
  });
  it('inside a watch --exec command, SYNCER_OPERATOR is the event\'s: the watcher\'s own operator is kept', () => {
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
