/**
 * Hosting over http(s) against a real web server from Debian (lighttpd running `git http-backend`
 * as CGI, https with a CA made by the test), a dumb (static files) server, and file:// without
 * allowFilter. Issue 9: partial where the server allows it; complete, with one warning naming
 * `uploadpack.allowFilter` and the size downloaded, where it does not; git's own reason and the
 * fix for missing/wrong credentials and an unknown CA, in sync, retrieve and doctor.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { git, World, type Operator } from '../helpers/world.js';
import { allowPush, enableDumb, startHttpGit, type HttpGit } from '../helpers/http-git.js';
import { advertised, expectFallbackWarning, expectGitReason, expectNoFallbackWarning, expectPartial, expectRetrieved, KiB } from '../helpers/hosting.js';

let http: HttpGit;
let world: World;
let a: Operator;
let b: Operator;
// Plain http must be allowed for these tests; the full list works whether allowedTransports adds to
// or replaces the defaults.
const TRANSPORTS = { SYNCER_ALLOWED_TRANSPORTS: 'https,http,ssh,git,file' };
let env: Record<string, string>;
const HUBS = ['alpha', 'beta', 'gamma'];

const retrieveArgs = (hub: string, into: string) => [
  'retrieve',
  '--hub',
  hub,
  '--date',
  'latest',
  '--operator',
  'lab-a',
  '--json',
  '--into',
  join(world.root, into),
];

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  [a, b] = await Promise.all([world.operator('lab-a'), world.operator('lab-b')]);
  http = await startHttpGit({ projectRoot: join(world.root, 'remotes') });
  env = { ...TRANSPORTS, ...http.httpsEnv };
  git(a.remoteDir, 'config', '--unset', 'uploadpack.allowAnySHA1InWant');
  allowPush(a.remoteDir);
  enableDumb(a.remoteDir);
  for (const hub of [...HUBS, 'delta']) a.write({ [`${hub}/part1.bin`]: randomBytes(256 * KiB), [`${hub}/sub/part2.bin`]: randomBytes(128 * KiB) });
}, 60_000);
afterAll(async () => {
  await http?.close();
  world?.cleanup();
});

describe('smart http and https (lighttpd + git http-backend)', () => {
  it('sync pushes over http and over https with a private CA (GIT_SSL_CAINFO)', async () => {
    git(a.repo, 'remote', 'set-url', 'origin', http.httpUrl('lab-a.git'));
    for (const hub of ['alpha', 'beta']) {
      const r = await a.syncer(['sync', '--hub', hub], { env });
      expect(r.code, r.stderr).toBe(0);
    }
    expect(advertised(world, a, 'beta').remote).toBe(http.httpUrl('lab-a.git'));
    git(a.repo, 'remote', 'set-url', 'origin', http.httpsUrl('lab-a.git'));
    const r = await a.syncer(['sync', '--hub', 'gamma'], { env });
    expect(r.code, r.stderr).toBe(0);
    const ad = advertised(world, a, 'gamma');
    expect(ad.remote).toBe(http.httpsUrl('lab-a.git'));
    expect(git(a.remoteDir, 'rev-parse', `refs/tags/syncer/gamma/${ad.date}^{commit}`)).toBe(ad.commit);
  }, 60_000);

  it('retrieve over http with uploadpack.allowFilter: partial, no warning', async () => {
    const r = await b.syncer(retrieveArgs('beta', 'r-http'), { env });
    const out = expectRetrieved(r, world, a, 'beta');
    expectPartial(out.target, a, out.commit, 'beta', ['alpha']);
    expectNoFallbackWarning(r.stderr);
  }, 60_000);

  it('retrieve over https with a private CA: partial, no warning', async () => {
    const r = await b.syncer(retrieveArgs('gamma', 'r-https'), { env });
    const out = expectRetrieved(r, world, a, 'gamma');
    expectPartial(out.target, a, out.commit, 'gamma', ['alpha', 'beta']);
    expectNoFallbackWarning(r.stderr);
  }, 60_000);

  it('retrieve with allowFilter off: still works, one warning naming uploadpack.allowFilter and the size', async () => {
    git(a.remoteDir, 'config', '--unset', 'uploadpack.allowFilter');
    try {
      const r = await b.syncer(retrieveArgs('gamma', 'r-nofilter'), { env });
      expectRetrieved(r, world, a, 'gamma');
      expectFallbackWarning(r.stderr, /uploadpack\.allowFilter/);
    } finally {
      git(a.remoteDir, 'config', 'uploadpack.allowFilter', 'true');
    }
  }, 60_000);

  it('retrieve from a dumb http server (static files): files arrive, HEAD right, with the warning', async () => {
    const set = await a.syncer(['config', 'set', 'remoteUrl', http.dumbUrl('lab-a.git')], { env });
    expect(set.code, set.stderr).toBe(0);
    try {
      const s = await a.syncer(['sync', '--hub', 'delta'], { env });
      expect(s.code, s.stderr).toBe(0);
    } finally {
      const unset = await a.syncer(['config', 'unset', 'remoteUrl'], { env });
      expect(unset.code, unset.stderr).toBe(0);
    }
    expect(advertised(world, a, 'delta').remote).toBe(http.dumbUrl('lab-a.git'));
    const r = await b.syncer(retrieveArgs('delta', 'r-dumb'), { env });
    expectRetrieved(r, world, a, 'delta');
    expectFallbackWarning(r.stderr, /smart|http-backend|uploadpack\.allowFilter/);
  }, 90_000);
});

describe('file:// without allowFilter', () => {
  it('retrieve works and says it downloaded everything (no silent full download)', async () => {
    git(a.repo, 'remote', 'set-url', 'origin', a.remoteUrl);
    git(a.remoteDir, 'config', '--unset', 'uploadpack.allowFilter');
    try {
      const s = await a.syncer(['sync', '--hub', 'alpha'], { env });
      expect(s.code, s.stderr).toBe(0);
      expect(advertised(world, a, 'alpha').remote).toBe(a.remoteUrl);
      const r = await b.syncer(retrieveArgs('alpha', 'r-file'), { env });
      expectRetrieved(r, world, a, 'alpha');
      expectFallbackWarning(r.stderr, /uploadpack\.allowFilter/);
    } finally {
      git(a.remoteDir, 'config', 'uploadpack.allowFilter', 'true');
    }
  }, 60_000);
});

describe("git's own reason, and the fix", () => {
  const CERT = /certificate/i;
  const CERT_FIX = /GIT_SSL_CAINFO/;
  const CRED_FIX = /credential/i;

  it('https without GIT_SSL_CAINFO: certificate problem, in retrieve, sync and doctor', async () => {
    const r = await b.syncer(retrieveArgs('gamma', 'r-noca'), { env: TRANSPORTS });
    expectGitReason(r, CERT, CERT_FIX);
    git(a.repo, 'remote', 'set-url', 'origin', http.httpsUrl('lab-a.git'));
    a.write({ 'epsilon/x.bin': randomBytes(KiB) });
    const s = await a.syncer(['sync', '--hub', 'epsilon'], { env: TRANSPORTS });
    expectGitReason(s, CERT, CERT_FIX);
    expect(world.etcdGet('datasets/epsilon/'), 'nothing advertised').toEqual({});
    const d = await a.syncer(['doctor'], { env: TRANSPORTS });
    expectGitReason(d, CERT, CERT_FIX);
  }, 60_000);

  it('basic auth: wrong password says "Authentication failed", no credentials says so; the fix names a credential helper', async () => {
    // The operator pushes with credentials in its own remote URL; peers get the URL without them.
    git(a.repo, 'remote', 'set-url', 'origin', http.authUrl('lab-a.git', { user: http.user, password: http.password }));
    a.write({ 'zeta/x.bin': randomBytes(4 * KiB) });
    const ok = await a.syncer(['sync', '--hub', 'zeta'], { env });
    expect(ok.code, ok.stderr).toBe(0);
    expect(advertised(world, a, 'zeta').remote).toBe(http.authUrl('lab-a.git'));

    const r = await b.syncer(retrieveArgs('zeta', 'r-auth'), { env });
    expectGitReason(r, /could not read Username|terminal prompts disabled|credentials/i, CRED_FIX);

    git(a.repo, 'remote', 'set-url', 'origin', http.authUrl('lab-a.git', { user: http.user, password: 'wrong' }));
    a.write({ 'eta/x.bin': randomBytes(KiB) });
    const s = await a.syncer(['sync', '--hub', 'eta'], { env });
    expectGitReason(s, /Authentication failed/, CRED_FIX);
    expect(world.etcdGet('datasets/eta/'), 'nothing advertised').toEqual({});
    const d = await a.syncer(['doctor'], { env });
    expectGitReason(d, /Authentication failed/, CRED_FIX);
  }, 90_000);
});
