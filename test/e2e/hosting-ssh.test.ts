/**
 * Hosting over ssh against a real, STOCK OpenSSH server (Debian's sshd_config, loopback port, no
 * `AcceptEnv GIT_PROTOCOL`: git speaks protocol v0, as with real stock servers). Issue 9:
 * - sync pushes over ssh and advertises the ssh URL;
 * - retrieve works wherever a plain clone of the tag works: from a stock server it falls back to
 *   a complete fetch of the dataset and says so once (size, and the server setting that would
 *   avoid it); with `uploadpack.allowReachableSHA1InWant` it is partial and says nothing;
 * - git's own reason reaches the user, with the fix: host key verification, a key the server
 *   does not accept; in sync, retrieve and doctor.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { git, World, type Operator } from '../helpers/world.js';
import { startSshd, type Sshd } from '../helpers/sshd.js';
import { advertised, expectFallbackWarning, expectGitReason, expectNoFallbackWarning, expectPartial, expectRetrieved, KiB } from '../helpers/hosting.js';

let sshd: Sshd;
let world: World;
let a: Operator;
let b: Operator;
let sshUrl: string;

const HUBS = ['alpha', 'beta', 'gamma'];

beforeAll(async () => {
  sshd = await startSshd();
  world = new World(inject('etcdHosts'));
  [a, b] = await Promise.all([world.operator('lab-a'), world.operator('lab-b')]);
  // The bare repository as a stock server has it: World allows any SHA-1 in want; a real server does
  // not. allowFilter stays on (the README's advice): it is not enough over ssh v0.
  git(a.remoteDir, 'config', '--unset', 'uploadpack.allowAnySHA1InWant');
  sshUrl = sshd.url(a.remoteDir);
  git(a.repo, 'remote', 'set-url', 'origin', sshUrl);
  // Three datasets of incompressible data in one repository.
  for (const hub of HUBS) a.write({ [`${hub}/part1.bin`]: randomBytes(256 * KiB), [`${hub}/sub/part2.bin`]: randomBytes(128 * KiB) });
}, 60_000);
afterAll(async () => {
  await sshd?.close();
  world?.cleanup();
});

describe('ssh, stock OpenSSH server', () => {
  it('sync pushes branch and tag over ssh and advertises the ssh URL', async () => {
    for (const hub of HUBS) {
      const r = await a.syncer(['sync', '--hub', hub, '--json'], { env: sshd.env });
      expect(r.code, r.stderr).toBe(0);
    }
    const ad = advertised(world, a, 'beta');
    expect(ad.remote).toBe(sshUrl);
    expect(git(a.remoteDir, 'rev-parse', `refs/tags/syncer/beta/${ad.date}^{commit}`)).toBe(ad.commit);
    expect(git(a.remoteDir, 'rev-parse', 'refs/heads/main')).toBe(git(a.repo, 'rev-parse', 'HEAD'));
  }, 60_000);

  it('retrieve works from a stock server (protocol v0) and says once why it was not partial', async () => {
    // Reproduces issue 9: before the fix, exit 4 "Server does not allow request for unadvertised object".
    const r = await b.syncer(['retrieve', '--hub', 'beta', '--date', 'latest', '--operator', 'lab-a', '--json', '--into', join(world.root, 'r-stock')], {
      env: sshd.env,
    });
    expect(r.stderr).not.toMatch(/unadvertised object/);
    expectRetrieved(r, world, a, 'beta');
    expectFallbackWarning(r.stderr, /AcceptEnv GIT_PROTOCOL|allowReachableSHA1InWant/);
  }, 60_000);

  it('with uploadpack.allowReachableSHA1InWant on the repository: partial, and no warning', async () => {
    git(a.remoteDir, 'config', 'uploadpack.allowReachableSHA1InWant', 'true');
    try {
      const r = await b.syncer(['retrieve', '--hub', 'gamma', '--date', 'latest', '--operator', 'lab-a', '--json', '--into', join(world.root, 'r-reachable')], {
        env: sshd.env,
      });
      const out = expectRetrieved(r, world, a, 'gamma');
      expectPartial(out.target, a, out.commit, 'gamma', ['alpha', 'beta']);
      expectNoFallbackWarning(r.stderr);
    } finally {
      git(a.remoteDir, 'config', '--unset', 'uploadpack.allowReachableSHA1InWant');
    }
  }, 60_000);
});

describe("git's own reason, and the fix", () => {
  const unknownHost = () => ({ GIT_SSH_COMMAND: sshd.sshCommand({ knownHosts: sshd.emptyKnownHosts }) });
  const strangerKey = () => ({ GIT_SSH_COMMAND: sshd.sshCommand({ key: sshd.strangerKey }) });
  const HOST_KEY = /Host key verification failed/;
  const HOST_KEY_FIX = /known_hosts/;
  const DENIED = /Permission denied \(publickey/;
  const DENIED_FIX = /authorized_keys|ssh-add|IdentityFile|GIT_SSH_COMMAND/;

  it('retrieve: host key verification failed names known_hosts', async () => {
    const r = await b.syncer(['retrieve', '--hub', 'alpha', '--date', 'latest', '--operator', 'lab-a', '--into', join(world.root, 'r-hostkey')], {
      env: unknownHost(),
    });
    expectGitReason(r, HOST_KEY, HOST_KEY_FIX);
  });

  it('retrieve: permission denied (publickey) says the key is not accepted', async () => {
    const r = await b.syncer(['retrieve', '--hub', 'alpha', '--date', 'latest', '--operator', 'lab-a', '--into', join(world.root, 'r-denied')], {
      env: strangerKey(),
    });
    expectGitReason(r, DENIED, DENIED_FIX);
  });

  it('sync: host key verification failed and permission denied, nothing advertised', async () => {
    a.write({ 'delta/x.bin': randomBytes(KiB) });
    for (const [env, reason, fix] of [
      [unknownHost(), HOST_KEY, HOST_KEY_FIX],
      [strangerKey(), DENIED, DENIED_FIX],
    ] as const) {
      const r = await a.syncer(['sync', '--hub', 'delta'], { env });
      expectGitReason(r, reason, fix);
      expect(world.etcdGet('datasets/delta/'), 'nothing advertised').toEqual({});
    }
  }, 60_000);

  it("doctor: the remote check names git's reason and the fix", async () => {
    for (const [env, reason, fix] of [
      [unknownHost(), HOST_KEY, HOST_KEY_FIX],
      [strangerKey(), DENIED, DENIED_FIX],
    ] as const) {
      const r = await a.syncer(['doctor'], { env });
      expectGitReason(r, reason, fix);
    }
    const ok = await a.syncer(['doctor'], { env: sshd.env });
    expect(ok.code, `${ok.stdout}\n${ok.stderr}`).toBe(0);
  }, 60_000);
});
