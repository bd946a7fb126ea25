/**
 * The embedded local etcd (started on demand, local-only notice, own-member check, stop) and the
 * config file (mode 0600, precedence, secrets masked, init checks before writing).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { git, run, World, type Operator } from '../helpers/world.js';

let world: World;

beforeAll(() => {
  world = new World(inject('etcdHosts'));
});
afterAll(() => world.cleanup());

describe('embedded local etcd', () => {
  let a: Operator;
  let env: Record<string, string | undefined>;
  let dataHome: string;

  beforeAll(async () => {
    a = await world.operator('emb-a', { init: false });
    dataHome = join(world.root, 'shared-data');
    // No etcd.hosts anywhere: commands use the embedded etcd in the per-user data dir.
    env = { ...a.env, SYNCER_ETCD_HOSTS: undefined, SYNCER_ETCD_NAMESPACE: undefined, XDG_DATA_HOME: dataHome };
  });
  afterAll(async () => {
    await run(['etcd', 'stop'], { env });
  });

  it('is started on demand, says the registry is local-only, and serves sync and retrieve', async () => {
    const st = await run(['etcd', 'status', '--json'], { env });
    expect(st.code, st.stderr).toBe(0);
    expect(JSON.parse(st.stdout).running).toBe(false);

    const init = await run(['init', '--operator', 'emb-a', '--repo', a.repo, '--import-dir', a.importDir, '--embedded'], { env });
    expect(init.code, init.stderr).toBe(0);
    a.write({ 'air/pm25.csv': 'pm\n3\n' });
    const s = await run(['sync', '--hub', 'air', '--json'], { env });
    expect(s.code, s.stderr).toBe(0);
    expect(s.stderr).toMatch(/local-only/);
    const status = JSON.parse((await run(['etcd', 'status', '--json'], { env })).stdout);
    expect(status).toMatchObject({ running: true });
    expect(status.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(existsSync(join(dataHome, 'syncer', 'etcd', 'data', 'member'))).toBe(true);

    // A second operator of this user (own config file) sees it through the same embedded etcd.
    const bConfig = join(world.root, 'emb-b.json');
    const bRepo = join(world.root, 'repos', 'emb-b');
    mkdirSync(bRepo, { recursive: true });
    git(bRepo, 'init', '--quiet', '-b', 'main');
    git(bRepo, 'remote', 'add', 'origin', world.bareRemote('emb-b').url);
    const bEnv = { ...env, SYNCER_CONFIG: bConfig };
    expect((await run(['init', '--operator', 'emb-b', '--repo', bRepo, '--import-dir', join(world.root, 'emb-b-imports')], { env: bEnv })).code).toBe(0);
    const r = await run(['retrieve', '--hub', 'air', '--date', 'latest', '--operator', 'emb-a', '--json'], { env: bEnv });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(JSON.parse(r.stdout).dataPath, 'pm25.csv'), 'utf8')).toBe('pm\n3\n');
    // Reads do not print the local-only notice.
    expect(r.stderr).not.toMatch(/local-only/);
  });

  it('stops, and starts again with its data kept', async () => {
    const stop = await run(['etcd', 'stop', '--json'], { env });
    expect(stop.code, stop.stderr).toBe(0);
    expect(JSON.parse(stop.stdout)).toEqual({ stopped: true });
    expect(JSON.parse((await run(['etcd', 'status', '--json'], { env })).stdout).running).toBe(false);
    const ls = await run(['ls', 'air', '--json'], { env });
    expect(ls.code, ls.stderr).toBe(0);
    expect(JSON.parse(ls.stdout)).toHaveLength(1);
  });

  it('never uses an etcd that is not its own member', async () => {
    const otherData = join(world.root, 'other-data');
    const stateDir = join(otherData, 'syncer', 'etcd');
    mkdirSync(stateDir, { recursive: true });
    // A state file pointing at the suite's etcd (someone else's member) with our pid.
    const port = Number(new URL(world.etcdHosts.split(',')[0]!).port);
    writeFileSync(join(stateDir, 'state.json'), JSON.stringify({ name: 'syncer-mine', clientPort: port, peerPort: port + 1, pid: process.pid }));
    const e2 = { ...env, XDG_DATA_HOME: otherData };
    const st = await run(['etcd', 'start', '--json'], { env: e2 });
    expect(st.code, st.stderr).toBe(0);
    const endpoint = JSON.parse(st.stdout).endpoint as string;
    expect(endpoint).not.toBe(world.etcdHosts.split(',')[0]);
    expect((await run(['etcd', 'stop'], { env: e2 })).code).toBe(0);
  });

  it('says how to install etcd when the binary is missing (exit 3)', async () => {
    const r = await run(['ls'], { env: { ...env, XDG_DATA_HOME: join(world.root, 'nobin'), SYNCER_ETCD_BIN: join(world.root, 'no-such-etcd') } });
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/not found/);
    expect(r.stderr).toMatch(/apt-get install -y etcd-server/);
  });
});

describe('config', () => {
  let a: Operator;
  beforeAll(async () => {
    a = await world.operator('cfg-a');
  });

  it('init writes the config with mode 0600', async () => {
    const path = (await a.syncer(['config', 'path'])).stdout.trim();
    expect(path).toBe(join(a.home, '.config', 'syncer', 'config.json'));
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ operator: 'cfg-a', repoPath: a.repo, importDir: a.importDir });
  });

  it('set, get, list: env overrides the file; secrets are never printed', async () => {
    expect((await a.syncer(['config', 'set', 'etcd.password', 'hunter2'])).code).toBe(0);
    expect((await a.syncer(['config', 'set', 'remote', 'upstream'])).code).toBe(0);
    const list = await a.syncer(['config', 'list']);
    expect(list.stdout).not.toMatch(/hunter2/);
    expect(list.stdout).toMatch(/etcd\.password\s+\*+/);
    const get = await a.syncer(['config', 'get', 'etcd.password', '--json']);
    expect(get.stdout).not.toMatch(/hunter2/);
    expect(JSON.parse((await a.syncer(['config', 'get', 'remote', '--json'])).stdout)).toEqual({ key: 'remote', value: 'upstream', source: 'file' });
    const env = await a.syncer(['config', 'get', 'remote', '--json'], { env: { SYNCER_REMOTE: 'from-env' } });
    expect(JSON.parse(env.stdout)).toEqual({ key: 'remote', value: 'from-env', source: 'env SYNCER_REMOTE' });
    expect((await a.syncer(['config', 'unset', 'remote'])).code).toBe(0);
    expect((await a.syncer(['config', 'unset', 'etcd.password'])).code).toBe(0);
    expect((await a.syncer(['config', 'get', 'remote'])).stdout.trim()).toBe('origin');
  });

  it('refuses unknown keys and invalid values with exit 2, leaving the file as it was', async () => {
    const path = (await a.syncer(['config', 'path'])).stdout.trim();
    const before = readFileSync(path, 'utf8');
    expect((await a.syncer(['config', 'set', 'colour', 'blue'])).code).toBe(2);
    const bad = await a.syncer(['config', 'set', 'operator', 'Not Valid']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/operator/);
    expect((await a.syncer(['config', 'set', 'etcd.hosts', 'localhost:2379'])).code).toBe(2);
    expect(readFileSync(path, 'utf8')).toBe(before);
  });

  it('a --config file that does not exist is exit 2 (not an empty config), except for init and config', async () => {
    const missing = join(world.root, 'typo.json');
    const r = await a.syncer(['ls', '--config', missing]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/config file .*typo\.json does not exist/);
    expect((await a.syncer(['config', 'path', '--config', missing])).code).toBe(0);
    const bad = await a.syncer(['config', 'set', 'etcd.timeoutMs', 'abc']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/invalid value for etcd.timeoutMs: expected a positive number \(config not changed\)/);
    // An etcd member without its port (gRPC would dial 443) or with a path: refused when set, and when used.
    for (const host of ['http://127.0.0.1', 'http://127.0.0.1:2379/v3']) {
      const set = await a.syncer(['config', 'set', 'etcd.hosts', host]);
      expect(set.code, set.stderr).toBe(2);
      expect(set.stderr).toMatch(/invalid value for etcd.hosts: expected http\(s\):\/\/host:port .*\(config not changed\)/);
      const use = await a.syncer(['ls', '--etcd-hosts', host]);
      expect(use.code, use.stderr).toBe(2);
      expect(use.stderr).toMatch(/invalid etcd host/);
    }
  });

  it('a bad action names what was given and the choices, on one line (exit 2)', async () => {
    const r = await a.syncer(['config', 'bogus']);
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(/^error: .*'bogus' is invalid for argument 'action'\. Allowed choices are path, get, set, unset, list\.$/);
  });

  it('a broken config file is a clear exit 2', async () => {
    const cfg = join(world.root, 'broken.json');
    writeFileSync(cfg, '{ not json');
    const r = await a.syncer(['ls', '--config', cfg]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot read config/);
  });

  it('init checks the repository, its remote and etcd before writing', async () => {
    const cfg = join(world.root, 'init-check.json');
    const notRepo = join(world.root, 'not-a-repo');
    mkdirSync(notRepo, { recursive: true });
    const r1 = await a.syncer(['init', '--config', cfg, '--operator', 'x', '--repo', notRepo, '--import-dir', notRepo]);
    expect(r1.code).toBe(2);
    expect(r1.stderr).toMatch(/not a git repository/);
    const noRemote = join(world.root, 'no-remote');
    mkdirSync(noRemote, { recursive: true });
    git(noRemote, 'init', '--quiet');
    const r2 = await a.syncer(['init', '--config', cfg, '--operator', 'x', '--repo', noRemote, '--import-dir', notRepo]);
    expect(r2.code).toBe(2);
    expect(r2.stderr).toMatch(/no remote "origin"/);
    const r3 = await a.syncer(['init', '--config', cfg, '--operator', 'x', '--repo', a.repo, '--import-dir', notRepo, '--etcd-hosts', 'http://127.0.0.1:1']);
    expect(r3.code).toBe(3);
    expect(r3.stderr).toMatch(/config not written/);
    expect(existsSync(cfg)).toBe(false);
    // Nor a signing key for the operator it could not register.
    expect(r3.stderr).not.toMatch(/made a signing key/);
    expect(existsSync(join(a.home, '.config/syncer/keys/x.ed25519.pem'))).toBe(false);
    const r4 = await a.syncer(['init', '--config', cfg, '--repo', a.repo]);
    expect(r4.code).toBe(2);
    expect(r4.stderr).toMatch(/--operator/);
  });

  it('doctor reports what is fine and what to fix', async () => {
    const ok = await a.syncer(['doctor', '--json']);
    expect(ok.code, ok.stderr + ok.stdout).toBe(0);
    const checks = JSON.parse(ok.stdout) as { check: string; ok: boolean }[];
    expect(checks.map((c) => c.check)).toEqual(['config', 'git', 'repository', 'remote', 'import dir', 'etcd']);
    expect(checks.every((c) => c.ok)).toBe(true);
    const down = await a.syncer(['doctor'], { env: { SYNCER_ETCD_HOSTS: 'http://127.0.0.1:1' } });
    expect(down.code).toBe(3);
    expect(down.stdout).toMatch(/FAIL\s+etcd/);
    expect(down.stdout).toMatch(/fix:/);

    // A remote that is gone: the check fails with exit 4 and says what to fix.
    const hidden = `${a.remoteDir}.gone`;
    renameSync(a.remoteDir, hidden);
    try {
      const gone = await a.syncer(['doctor', '--json']);
      expect(gone.code).toBe(4);
      const remote = (JSON.parse(gone.stdout) as { check: string; ok: boolean; hint?: string }[]).find((c) => c.check === 'remote')!;
      expect(remote.ok).toBe(false);
      expect(remote.hint).toMatch(/git remote set-url origin URL/);
    } finally {
      renameSync(hidden, a.remoteDir);
    }
  });
});
