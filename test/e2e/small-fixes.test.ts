/**
 * Issue 9's smaller fixes, end to end (real etcd, real git, the real CLI): reindex accepts the
 * remotes git and sync accept (plain paths), and init saves --namespace.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { World, type Operator } from '../helpers/world.js';

let world: World;
let a: Operator;

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  a = await world.operator('lab-a');
  a.write({ 'weather/a.csv': 'a,1\n' });
  const r = await a.syncer(['sync', '--hub', 'weather']);
  expect(r.code, r.stderr).toBe(0);
});
afterAll(() => world.cleanup());

describe('smaller fixes of issue 9', () => {
  it('reindex --remote OP=/path/to/repo.git (a plain path, like git and sync accept) reads it', async () => {
    const wipe = () => execFileSync('etcdctl', ['--endpoints', world.etcdHosts, 'del', '--prefix', `${world.namespace}datasets/`], { env: { ...process.env, ETCDCTL_API: '3' } });
    wipe();
    const r = await a.syncer(['reindex', '--remote', `lab-a=${a.remoteDir}`, '--json'], { timeoutMs: 120_000 });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/not a URL/);
    expect(Object.keys(world.etcdGet('datasets/weather/'))).toHaveLength(1);
    // ...a relative path (to the working directory), and a remotes file with a relative path (to the file).
    wipe();
    const rel = await a.syncer(['reindex', '--remote', 'lab-a=remotes/lab-a.git'], { cwd: world.root, timeoutMs: 120_000 });
    expect(rel.code, rel.stderr).toBe(0);
    expect(Object.keys(world.etcdGet('datasets/weather/'))).toHaveLength(1);
    wipe();
    writeFileSync(join(world.root, 'remotes.txt'), 'lab-a remotes/lab-a.git\n');
    const file = await a.syncer(['reindex', '--remotes-file', join(world.root, 'remotes.txt')], { timeoutMs: 120_000 });
    expect(file.code, file.stderr).toBe(0);
    expect(Object.keys(world.etcdGet('datasets/weather/'))).toHaveLength(1);
  });

  it('init --namespace NS is saved, so the next command uses NS', async () => {
    const op = await world.operator('lab-ns', { init: false });
    const ns = `${world.namespace}other/`;
    const env = { SYNCER_ETCD_NAMESPACE: undefined };
    const r = await op.syncer(['init', '--operator', 'lab-ns', '--repo', op.repo, '--import-dir', op.importDir, '--namespace', ns], { env });
    expect(r.code, r.stderr).toBe(0);
    const cfg = JSON.parse(readFileSync(join(op.home, '.config', 'syncer', 'config.json'), 'utf8'));
    expect(cfg.etcd.namespace).toBe(ns);
    const get = await op.syncer(['config', 'get', 'etcd.namespace'], { env });
    expect(get.stdout.trim()).toBe(ns);
  });
});
