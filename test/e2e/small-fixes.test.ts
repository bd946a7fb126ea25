/**
 * Issue 9's smaller fixes, end to end (real etcd, real git, the real CLI): reindex accepts the
 * remotes git and sync accept (plain paths), and init saves --namespace.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { git, World, type Operator } from '../helpers/world.js';
import { operatorKey, signAd } from '../helpers/forge.js';

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
    const wipe = () =>
      execFileSync('etcdctl', ['--endpoints', world.etcdHosts, 'del', '--prefix', `${world.namespace}datasets/`], {
        env: { ...process.env, ETCDCTL_API: '3' },
      });
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

  it('sync refuses a hub directory that is a symbolic link (exit 2, naming the link and its target)', async () => {
    mkdirSync(join(world.root, 'elsewhere'), { recursive: true });
    writeFileSync(join(world.root, 'elsewhere', 'x.csv'), 'x\n');
    symlinkSync(join(world.root, 'elsewhere'), join(a.repo, 'linked'));
    const head = git(a.repo, 'rev-parse', 'HEAD');
    const r = await a.syncer(['sync', '--hub', 'linked']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`${join(a.repo, 'linked')} is a symbolic link (to ${join(world.root, 'elsewhere')})`);
    expect(git(a.repo, 'rev-parse', 'HEAD')).toBe(head);
    rmSync(join(a.repo, 'linked'));
  });

  it('retrieve never reports a data path that does not exist (a dataset committed as a link)', async () => {
    const b = await world.operator('lab-b');
    // What an older syncer published: the dataset is a committed symbolic link.
    symlinkSync('/nonexistent/place', join(a.repo, 'oldlink'));
    git(a.repo, 'add', 'oldlink');
    git(a.repo, 'commit', '-q', '-m', 'link');
    const commit = git(a.repo, 'rev-parse', 'HEAD');
    const date = new Date().toISOString().slice(0, 10);
    const ad = signAd(
      {
        schema: 1,
        hub: 'oldlink',
        date,
        operator: 'lab-a',
        remote: a.remoteUrl,
        branch: 'main',
        commit,
        tag: `syncer/oldlink/${date}`,
        path: 'oldlink',
        files: 1,
        bytes: 18,
        message: 'old',
        syncedAt: new Date().toISOString(),
        runId: 'r1',
      },
      operatorKey(a),
    );
    git(a.repo, 'tag', '-a', '-f', '-m', JSON.stringify(ad), `syncer/oldlink/${date}`, commit);
    git(a.repo, 'push', '-q', 'origin', 'main', `+refs/tags/syncer/oldlink/${date}`);
    world.etcdPut(`datasets/oldlink/${date}/lab-a`, JSON.stringify(ad));
    const r = await b.syncer(['retrieve', '--hub', 'oldlink', '--date', date, '--operator', 'lab-a'], { timeoutMs: 120_000 });
    expect(r.stdout).not.toMatch(/^data:/m);
    expect(r.code).toBe(5);
    // Refused as a link out of the dataset (before the checkout), or as a dataset that is no directory.
    expect(r.stderr).toMatch(
      /its dataset oldlink (is a symbolic link \(to \/nonexistent\/place\), not a directory|is not a directory in the commit)|symbolic link leads out of the dataset \(oldlink -> \/nonexistent\/place\)/,
    );
  });

  it('a dataset that changes from a symbolic link to a directory is synced (the type change committed)', async () => {
    // HEAD holds oldlink as a link (previous test); now it is a real directory.
    rmSync(join(a.repo, 'oldlink'));
    a.write({ 'oldlink/data.csv': 'real\n' });
    const r = await a.syncer(['sync', '--hub', 'oldlink']);
    expect(r.code, r.stderr).toBe(0);
    expect(git(a.repo, 'ls-tree', 'HEAD', 'oldlink/')).toMatch(/^100644 blob \w+\toldlink\/data.csv$/);
    const again = await a.syncer(['sync', '--hub', 'oldlink']);
    expect(again.code, again.stderr).toBe(0);
  });
});
