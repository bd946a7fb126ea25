/**
 * Secure clusters, against REAL etcd servers started by the test (test/helpers/secure-etcd.ts):
 * TLS with a CA made by the test, client-certificate auth, and etcd user/password auth with roles.
 * Settings come from the environment for some operators and from the config file (`syncer config
 * set`) for others. Every broken setting must give exit 3 within a bounded time, with a message
 * naming the cause, no stack trace, and `syncer doctor --json` must say which check failed and why.
 * Passwords never appear in any output.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync, statSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { git, World, type Operator, type RunResult } from '../helpers/world.js';
import { freePort } from '../helpers/etcd.js';
import { startSecureEtcd, type AuthUsers, type SecureEtcd } from '../helpers/secure-etcd.js';
import { EtcdAdapter } from '../../src/adapters/etcd.js';

/** Today's UTC date by this process's clock (which scripts/test-dates.sh may move). */
const utcToday = () => new Date().toISOString().slice(0, 10);
const json = (s: string) => JSON.parse(s);
/** Failures answer within the 5 s registry deadline; generous for a loaded 2-core machine. */
const BOUND_MS = 15_000;

/** Exit 3, quickly, a message on stderr matching `cause`, nothing on stdout, no stack trace. */
function expectRegistryFailure(r: RunResult, cause: RegExp): void {
  expect(r.code, `${r.stdout}\n${r.stderr}`).toBe(3);
  expect(r.stderr).toMatch(/^error: /m);
  expect(r.stderr).toMatch(cause);
  expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace without --verbose
  expect(r.stderr).not.toMatch(/unexpected error/);
  expect(r.ms).toBeLessThan(BOUND_MS);
}

/** `syncer doctor --json`: exit 3, every other check fine, the etcd check failed naming the cause. */
async function expectDoctorEtcdFailure(op: Operator, env: Record<string, string | undefined>, cause: RegExp): Promise<RunResult> {
  const r = await op.syncer(['doctor', '--json'], { env });
  expect(r.code, r.stderr).toBe(3);
  const checks = json(r.stdout) as { check: string; ok: boolean; detail: string; hint?: string; code?: number }[];
  const etcd = checks.find((c) => c.check === 'etcd')!;
  expect(etcd, r.stdout).toBeDefined();
  expect(etcd.ok).toBe(false);
  expect(etcd.code).toBe(3);
  expect(etcd.detail).toMatch(cause);
  expect(etcd.hint).toBeTruthy();
  expect(checks.filter((c) => !c.ok).map((c) => c.check)).toEqual(['etcd']);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.ms).toBeLessThan(BOUND_MS);
  return r;
}

async function initOperator(op: Operator): Promise<void> {
  const r = await op.syncer(['init', '--operator', op.name, '--repo', op.repo, '--import-dir', op.importDir, '--json']);
  expect(r.code, r.stderr).toBe(0);
}

async function configSet(op: Operator, key: string, value: string): Promise<RunResult> {
  const r = await op.syncer(['config', 'set', key, value]);
  expect(r.code, r.stderr).toBe(0);
  return r;
}

/**
 * Sync `hub` as `from`, retrieve it as `to`: files arrive and the commit is the one pushed.
 * Returns the date of the dataset: today's when sync read the clock (the run may cross midnight).
 */
async function syncAndRetrieve(from: Operator, to: Operator, hub: string): Promise<string> {
  from.write({ [`${hub}/data.csv`]: `id,value\n1,${hub}\n`, [`${hub}/sub/more.txt`]: 'more\n' });
  const before = utcToday();
  const s = await from.syncer(['sync', '--hub', hub, '--json']);
  expect(s.code, s.stderr).toBe(0);
  const synced = json(s.stdout);
  const today = synced.date;
  expect([before, utcToday()]).toContain(today);
  expect(synced).toMatchObject({ hub, operator: from.name, files: 2, advertised: 'created' });
  expect(synced.commit).toBe(git(from.repo, 'rev-parse', 'HEAD'));
  expect(git(from.remoteDir, 'rev-parse', 'main')).toBe(synced.commit);

  const r = await to.syncer(['retrieve', '--hub', hub, '--date', 'latest', '--operator', from.name, '--json']);
  expect(r.code, r.stderr).toBe(0);
  const got = json(r.stdout);
  const target = join(to.importDir, hub, today, from.name);
  expect(got).toMatchObject({ hub, date: today, operator: from.name, commit: synced.commit, target, dataPath: join(target, hub) });
  expect(readFileSync(join(target, hub, 'data.csv'), 'utf8')).toBe(`id,value\n1,${hub}\n`);
  expect(readFileSync(join(target, hub, 'sub/more.txt'), 'utf8')).toBe('more\n');
  expect(git(target, 'rev-parse', 'HEAD')).toBe(synced.commit);

  const ls = await to.syncer(['ls', hub, today, '--json']);
  expect(ls.code, ls.stderr).toBe(0);
  expect(json(ls.stdout)).toEqual([expect.objectContaining({ operator: from.name, commit: synced.commit })]);
  return today;
}

/** A TCP server that accepts connections and never says a word (a stalled TLS handshake). */
async function silentServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.on('close', () => sockets.delete(s));
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('TLS: server certificate signed by a CA made by the test', () => {
  let etcd: SecureEtcd;
  let world: World;
  let a: Operator; // settings from the environment
  let b: Operator; // settings from the config file

  beforeAll(async () => {
    etcd = await startSecureEtcd();
    world = new World(etcd.hosts);
    a = await world.operator('tls-a', { init: false });
    a.env.SYNCER_ETCD_TLS_CA = etcd.pki.ca;
    await initOperator(a);
    b = await world.operator('tls-b', { init: false });
    await configSet(b, 'etcd.tls.ca', etcd.pki.ca);
    await initOperator(b);
  });
  afterAll(async () => {
    world?.cleanup();
    await etcd?.close();
  });

  it('sync and retrieve work with the CA configured (env for one operator, config file for the other)', async () => {
    expect(etcd.hosts).toMatch(/^https:\/\/localhost:\d+$/);
    const today = await syncAndRetrieve(a, b, 'tls-hub');
    const ad = json(etcd.get(`${world.namespace}datasets/tls-hub/${today}/tls-a`)[`${world.namespace}datasets/tls-hub/${today}/tls-a`]!);
    expect(ad).toMatchObject({ operator: 'tls-a', commit: git(a.repo, 'rev-parse', 'HEAD') });
  });

  it('without the CA: exit 3 naming the untrusted server certificate, nothing committed or pushed', async () => {
    a.write({ 'tls-hub/data.csv': 'id,value\n2,changed\n' });
    const head = git(a.repo, 'rev-parse', 'HEAD');
    const r = await a.syncer(['sync', '--hub', 'tls-hub'], { env: { SYNCER_ETCD_TLS_CA: undefined } });
    expectRegistryFailure(r, /TLS connection to etcd at https:\/\/localhost:\d+ failed: the server certificate is not trusted/);
    expect(r.stderr).toMatch(/etcd\.tls\.ca/);
    expect(git(a.repo, 'rev-parse', 'HEAD')).toBe(head);
    expect(git(a.remoteDir, 'rev-parse', 'main')).toBe(head);
    const ls = await a.syncer(['ls', '--json'], { env: { SYNCER_ETCD_TLS_CA: undefined } });
    expectRegistryFailure(ls, /certificate is not trusted/);
    expect(ls.stdout).toBe('');
  });

  it('with another CA: exit 3 naming the untrusted certificate (env overriding the config file too)', async () => {
    const r = await b.syncer(['retrieve', '--hub', 'tls-hub', '--date', 'latest', '--operator', 'tls-a', '--force', '--json'], {
      env: { SYNCER_ETCD_TLS_CA: etcd.pki.otherCa },
    });
    expectRegistryFailure(r, /TLS connection to etcd.*the server certificate is not trusted: it is not signed by the CA in etcd\.tls\.ca/);
    expect(r.stdout).toBe('');
    const ls = await a.syncer(['ls', '--json'], { env: { SYNCER_ETCD_TLS_CA: etcd.pki.otherCa } });
    expectRegistryFailure(ls, /certificate is not trusted/);
  });

  it('init with the wrong CA refuses to write the config (exit 3)', async () => {
    const c = await world.operator('tls-c', { init: false });
    c.env.SYNCER_ETCD_TLS_CA = etcd.pki.otherCa;
    const r = await c.syncer(['init', '--operator', 'tls-c', '--repo', c.repo, '--import-dir', c.importDir]);
    expectRegistryFailure(r, /certificate is not trusted.*config not written/);
    const path = (await c.syncer(['config', 'path'])).stdout.trim();
    expect(() => statSync(path)).toThrow();
  });

  it('an http:// URL for the TLS endpoint: exit 3 without TLS settings, a config error (exit 2) with them', async () => {
    const http = etcd.hosts.replace('https://', 'http://');
    const plain = await a.syncer(['ls', '--json'], { env: { SYNCER_ETCD_HOSTS: http, SYNCER_ETCD_TLS_CA: undefined } });
    expectRegistryFailure(plain, /etcd at http:\/\/localhost:\d+/);
    // With a CA configured the client would speak TLS whatever the URL says: the config must say so.
    const withCa = await a.syncer(['ls', '--json'], { env: { SYNCER_ETCD_HOSTS: http } });
    expect(withCa.code, withCa.stdout + withCa.stderr).toBe(2);
    expect(withCa.stderr).toMatch(/etcd\.tls is set but etcd\.hosts use http:\/\//);
    const mixed = await a.syncer(['ls', '--json'], { env: { SYNCER_ETCD_HOSTS: `${etcd.hosts},http://localhost:1` } });
    expect(mixed.code, mixed.stdout + mixed.stderr).toBe(2);
    expect(mixed.stderr).toMatch(/mixes https:\/\/ and http:\/\//);
    for (const r of [withCa, mixed]) expect(r.stderr).not.toMatch(/unexpected error|\n\s+at /);
  });

  it('a server that accepts the connection but never completes the TLS handshake: exit 3 within the deadline', async () => {
    const silent = await silentServer();
    try {
      const r = await a.syncer(['ls', '--json'], { env: { SYNCER_ETCD_HOSTS: `https://localhost:${silent.port}` } });
      expectRegistryFailure(r, /etcd at https:\/\/localhost:\d+ is unreachable or did not answer/);
    } finally {
      await silent.close();
    }
  });

  it('unusable TLS settings are config errors (exit 2) naming the key, not crashes', async () => {
    const client = etcd.pki.client('someone');
    const certOnly = await a.syncer(['ls', '--json'], { env: { SYNCER_ETCD_TLS_CERT: client.cert } });
    expect(certOnly.code, certOnly.stderr).toBe(2);
    expect(certOnly.stderr).toMatch(/etcd\.tls\.cert is set without etcd\.tls\.key/);
    const mismatch = await a.syncer(['ls', '--json'], { env: { SYNCER_ETCD_TLS_CERT: client.cert, SYNCER_ETCD_TLS_KEY: etcd.pki.server.key } });
    expect(mismatch.code, mismatch.stderr).toBe(2);
    expect(mismatch.stderr).toMatch(/key does not belong to the client certificate/);
    const notPem = await a.syncer(['ls', '--json'], { env: { SYNCER_ETCD_TLS_CA: join(a.repo, 'README.md') } });
    expect(notPem.code, notPem.stderr).toBe(2);
    expect(notPem.stderr).toMatch(/etcd\.tls\.ca.*is not a PEM certificate|is not a PEM certificate.*etcd\.tls\.ca/);
    const missing = await a.syncer(['ls', '--json'], { env: { SYNCER_ETCD_TLS_CA: join(a.repo, 'nope.pem') } });
    expect(missing.code, missing.stderr).toBe(2);
    expect(missing.stderr).toMatch(/cannot read the etcd TLS CA certificate .*nope\.pem.*ENOENT/);
    for (const r of [certOnly, mismatch, notPem, missing]) expect(r.stderr).not.toMatch(/unexpected error|\n\s+at /);
  });

  it('doctor --json: the etcd check fails naming the TLS cause, exit 3; passes with the CA', async () => {
    await expectDoctorEtcdFailure(a, { SYNCER_ETCD_TLS_CA: undefined }, /TLS.*certificate is not trusted/);
    await expectDoctorEtcdFailure(b, { SYNCER_ETCD_TLS_CA: etcd.pki.otherCa }, /TLS.*certificate is not trusted/);
    const ok = await b.syncer(['doctor', '--json']);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(json(ok.stdout).find((c: { check: string }) => c.check === 'etcd')).toMatchObject({ ok: true, detail: expect.stringMatching(/over TLS/) });
  });
});

describe('TLS with client-certificate auth (--client-cert-auth)', () => {
  let etcd: SecureEtcd;
  let world: World;
  let a: Operator;
  let b: Operator;

  beforeAll(async () => {
    etcd = await startSecureEtcd({ clientCertAuth: true });
    world = new World(etcd.hosts);
    const ca = etcd.pki.client('cert-a');
    a = await world.operator('cert-a', { init: false });
    Object.assign(a.env, { SYNCER_ETCD_TLS_CA: etcd.pki.ca, SYNCER_ETCD_TLS_CERT: ca.cert, SYNCER_ETCD_TLS_KEY: ca.key });
    await initOperator(a);
    const cb = etcd.pki.client('cert-b');
    b = await world.operator('cert-b', { init: false });
    await configSet(b, 'etcd.tls.ca', etcd.pki.ca);
    await configSet(b, 'etcd.tls.cert', cb.cert);
    await configSet(b, 'etcd.tls.key', cb.key);
    await initOperator(b);
  });
  afterAll(async () => {
    world?.cleanup();
    await etcd?.close();
  });

  it('sync and retrieve work with a client certificate and key', async () => {
    await syncAndRetrieve(a, b, 'cert-hub');
  });

  it('without a client certificate: exit 3 saying the server refused it', async () => {
    const noCert = { SYNCER_ETCD_TLS_CERT: undefined, SYNCER_ETCD_TLS_KEY: undefined };
    const head = git(a.repo, 'rev-parse', 'HEAD');
    a.write({ 'cert-hub/data.csv': 'id,value\n3,changed\n' });
    const r = await a.syncer(['sync', '--hub', 'cert-hub'], { env: noCert });
    expectRegistryFailure(r, /TLS connection to etcd.*failed: the server refused the client certificate.*etcd\.tls\.cert \/ etcd\.tls\.key are unset/);
    expect(git(a.repo, 'rev-parse', 'HEAD')).toBe(head);
    const ls = await a.syncer(['ls', '--json'], { env: noCert });
    expectRegistryFailure(ls, /refused the client certificate/);
  });

  it('with a certificate from a CA the cluster does not trust: exit 3 saying so', async () => {
    const rogue = etcd.pki.client('cert-b', { byOtherCa: true });
    const r = await b.syncer(['ls', '--json'], { env: { SYNCER_ETCD_TLS_CERT: rogue.cert, SYNCER_ETCD_TLS_KEY: rogue.key } });
    expectRegistryFailure(r, /refused the client certificate: etcd\.tls\.cert is not signed by a CA the cluster trusts/);
  });

  it('doctor --json names the client-certificate problem', async () => {
    await expectDoctorEtcdFailure(a, { SYNCER_ETCD_TLS_CERT: undefined, SYNCER_ETCD_TLS_KEY: undefined }, /TLS.*client certificate/);
    const rogue = etcd.pki.client('cert-b', { byOtherCa: true });
    await expectDoctorEtcdFailure(b, { SYNCER_ETCD_TLS_CERT: rogue.cert, SYNCER_ETCD_TLS_KEY: rogue.key }, /client certificate/);
  });
});

describe('etcd users and roles (auth enabled, over TLS)', () => {
  let etcd: SecureEtcd;
  let world: World;
  let users: AuthUsers;
  let alice: Operator; // readwrite; settings from the environment
  let mallory: Operator; // read only; settings from the config file
  const outputs: { label: string; r: RunResult }[] = [];
  const record = (label: string, r: RunResult) => {
    outputs.push({ label, r });
    return r;
  };
  const namespace = `sec${Math.random().toString(36).slice(2, 8)}/`;
  /** The date of alice's dataset, as her sync reported it. */
  let today: string;

  beforeAll(async () => {
    etcd = await startSecureEtcd();
    users = etcd.enableAuth(namespace);
    world = new World(etcd.hosts, namespace);
    alice = await world.operator('alice-lab', { init: false });
    Object.assign(alice.env, { SYNCER_ETCD_TLS_CA: etcd.pki.ca, SYNCER_ETCD_USERNAME: 'alice', SYNCER_ETCD_PASSWORD: users.alice.password });
    await initOperator(alice);
    mallory = await world.operator('mallory-lab', { init: false });
    await configSet(mallory, 'etcd.tls.ca', etcd.pki.ca);
    // init registers the operator record, which needs write permission: the admin does it for mallory.
    Object.assign(mallory.env, { SYNCER_ETCD_USERNAME: 'alice', SYNCER_ETCD_PASSWORD: users.alice.password });
    await initOperator(mallory);
    delete mallory.env.SYNCER_ETCD_USERNAME;
    delete mallory.env.SYNCER_ETCD_PASSWORD;
    await configSet(mallory, 'etcd.username', 'mallory');
    record('config set password', await configSet(mallory, 'etcd.password', users.mallory.password));
  });
  afterAll(async () => {
    world?.cleanup();
    await etcd?.close();
  });

  it('the cluster really enforces auth (etcdctl with a wrong password is refused)', () => {
    expect(() => etcd.etcdctl(['--user', 'nobody:wrong', 'get', '--prefix', namespace])).toThrow(/authentication failed/);
  });

  it('alice (readwrite) syncs; mallory (read only) retrieves it', async () => {
    alice.write({ 'auth-hub/data.csv': 'id,value\n1,a\n' });
    const s = record('alice sync', await alice.syncer(['sync', '--hub', 'auth-hub', '--json', '--verbose']));
    expect(s.code, s.stderr).toBe(0);
    const synced = json(s.stdout);
    today = synced.date;
    expect(synced).toMatchObject({ hub: 'auth-hub', operator: 'alice-lab', advertised: 'created', commit: git(alice.repo, 'rev-parse', 'HEAD') });
    const key = `${namespace}datasets/auth-hub/${today}/alice-lab`;
    expect(json(etcd.get(key)[key]!)).toMatchObject({ commit: synced.commit });

    const r = record(
      'mallory retrieve',
      await mallory.syncer(['retrieve', '--hub', 'auth-hub', '--date', 'latest', '--operator', 'alice-lab', '--json', '--verbose']),
    );
    expect(r.code, r.stderr).toBe(0);
    const got = json(r.stdout);
    expect(got.commit).toBe(synced.commit);
    expect(readFileSync(join(got.dataPath, 'data.csv'), 'utf8')).toBe('id,value\n1,a\n');
    expect(git(got.target, 'rev-parse', 'HEAD')).toBe(synced.commit);
    record('mallory ls', await mallory.syncer(['ls', 'auth-hub', '--json']));
    expect(outputs.at(-1)!.r.code).toBe(0);
  });

  it('a wrong password: exit 3 saying authentication failed, and no password in the output (even --verbose)', async () => {
    const wrong = `wrong-${users.alice.password.split('').reverse().join('')}`;
    for (const args of [
      ['ls', '--json'],
      ['ls', '--json', '--verbose'],
      ['sync', '--hub', 'auth-hub', '--verbose'],
    ]) {
      const r = record(`wrong password ${args.join(' ')}`, await alice.syncer(args, { env: { SYNCER_ETCD_PASSWORD: wrong } }));
      expect(r.code, r.stderr).toBe(3);
      expect(r.stderr).toMatch(/refused the credentials of etcd user "alice" \(authentication failed/);
      expect(r.stdout + r.stderr).not.toContain(wrong);
      expect(r.ms).toBeLessThan(BOUND_MS);
      if (!args.includes('--verbose')) expectRegistryFailure(r, /authentication failed/);
    }
    // The config-file password of mallory, wrong in the environment: the env wins, and fails.
    const m = record('mallory wrong password', await mallory.syncer(['ls', '--json'], { env: { SYNCER_ETCD_PASSWORD: wrong } }));
    expectRegistryFailure(m, /etcd user "mallory" \(authentication failed/);
  });

  it('no credentials at all against an auth-enabled cluster: exit 3 saying authentication is required', async () => {
    const r = record('no user', await alice.syncer(['ls', '--json'], { env: { SYNCER_ETCD_USERNAME: undefined, SYNCER_ETCD_PASSWORD: undefined } }));
    expectRegistryFailure(r, /requires authentication \(authentication failed: etcd\.username is unset\)/);
  });

  it('mallory (read only) cannot sync: exit 3 saying permission was denied, nothing advertised', async () => {
    mallory.write({ 'auth-hub/data.csv': 'id,value\n1,forged\n' });
    const r = record('mallory sync', await mallory.syncer(['sync', '--hub', 'auth-hub', '--json']));
    expectRegistryFailure(r, /denied permission to etcd user "mallory".*\(permission denied\)/);
    expect(r.stdout).toBe('');
    const all = etcd.get(namespace);
    expect(Object.keys(all).filter((k) => k.startsWith(`${namespace}datasets/`) && k.includes('mallory'))).toEqual([]);
    expect(Object.keys(all).filter((k) => k.startsWith(`${namespace}inprogress/`))).toEqual([]);
    // alice's advertisement is untouched.
    const key = `${namespace}datasets/auth-hub/${today}/alice-lab`;
    expect(json(all[key]!).commit).toBe(git(alice.repo, 'rev-parse', 'HEAD'));
  });

  it('a user without read permission cannot even list: exit 3 saying permission was denied', async () => {
    const env = { SYNCER_ETCD_USERNAME: 'nobody', SYNCER_ETCD_PASSWORD: users.nobody.password };
    const ls = record('nobody ls', await alice.syncer(['ls', '--json'], { env }));
    expectRegistryFailure(ls, /denied permission to etcd user "nobody".*\(permission denied\)/);
    expect(ls.stdout).toBe('');
    const r = record('nobody retrieve', await alice.syncer(['retrieve', '--hub', 'auth-hub', '--date', today, '--operator', 'alice-lab', '--json'], { env }));
    expectRegistryFailure(r, /permission denied/);
    // alice's namespace only: another namespace is denied to alice too.
    const other = record('alice other ns', await alice.syncer(['ls', '--json'], { env: { SYNCER_ETCD_NAMESPACE: 'elsewhere/' } }));
    expectRegistryFailure(other, /denied permission to etcd user "alice".*elsewhere\//);
  });

  it('doctor --json says which is wrong: authentication, or permission', async () => {
    const wrong = record(
      'doctor wrong password',
      await expectDoctorEtcdFailure(alice, { SYNCER_ETCD_PASSWORD: 'not-the-password-0' }, /authentication failed/),
    );
    expect(wrong.stdout + wrong.stderr).not.toContain('not-the-password-0');
    record(
      'doctor no user',
      await expectDoctorEtcdFailure(alice, { SYNCER_ETCD_USERNAME: undefined, SYNCER_ETCD_PASSWORD: undefined }, /requires authentication/),
    );
    record(
      'doctor nobody',
      await expectDoctorEtcdFailure(alice, { SYNCER_ETCD_USERNAME: 'nobody', SYNCER_ETCD_PASSWORD: users.nobody.password }, /permission denied/),
    );
    const ok = record('doctor alice', await alice.syncer(['doctor', '--json', '--verbose']));
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    expect(json(ok.stdout).find((c: { check: string }) => c.check === 'etcd')).toMatchObject({ ok: true, detail: expect.stringMatching(/as alice over TLS/) });
  });

  it('EtcdAdapter.checkWritable tells a writer from a reader without writing anything', async () => {
    const adapter = (username: string, password: string) =>
      new EtcdAdapter({ hosts: [etcd.hosts], username, password, tls: { ca: etcd.pki.ca }, timeoutMs: 5000 });
    const probe = `${namespace}doctor/write-check`;
    const a = adapter('alice', users.alice.password);
    const m = adapter('mallory', users.mallory.password);
    try {
      await expect(a.checkWritable(probe)).resolves.toBeUndefined();
      await expect(m.checkWritable(probe)).rejects.toMatchObject({
        kind: 'REGISTRY',
        message: expect.stringMatching(/denied permission to etcd user "mallory".*\(permission denied\)/),
      });
      await expect(m.get(probe)).resolves.toBeUndefined(); // mallory may read: nothing was written
    } finally {
      await a.close();
      await m.close();
    }
    expect(etcd.get(`${namespace}doctor/`)).toEqual({});
  });

  it('the password is kept out of config output, and the config file is private', async () => {
    const list = record('config list', await mallory.syncer(['config', 'list']));
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/etcd\.password/);
    record('config list json', await mallory.syncer(['config', 'list', '--json']));
    record('config get', await mallory.syncer(['config', 'get', 'etcd.password', '--json']));
    record('config get env', await alice.syncer(['config', 'get', 'etcd.password']));
    const path = (await mallory.syncer(['config', 'path'])).stdout.trim();
    expect(statSync(path).mode & 0o077).toBe(0);
    expect(readFileSync(path, 'utf8')).toContain(users.mallory.password); // it is stored, only there
  });

  it('no password ever appeared in stdout or stderr of any run above', () => {
    expect(outputs.length).toBeGreaterThan(15);
    const secrets = [users.alice.password, users.mallory.password, users.nobody.password, users.rootPassword];
    for (const { label, r } of outputs) {
      for (const secret of secrets) {
        expect(r.stdout.includes(secret), `${label}: stdout`).toBe(false);
        expect(r.stderr.includes(secret), `${label}: stderr`).toBe(false);
      }
    }
  });
});
