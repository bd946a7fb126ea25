/**
 * Slow links and dead remotes (issue 9): a real git daemon behind a throttling TCP proxy at
 * 64 KiB/s each way. With the stall deadline set to 2 s, a push and a retrieve of ~384 KiB of
 * incompressible data (~6 s on the wire) complete: a stall is no bytes moving, not a long
 * transfer. Behind a proxy that accepts connections and never forwards a byte, retrieve and sync
 * are still cut off, exit 4, saying no progress was made, within a bound.
 *
 * Measured on loopback: the kernel's socket buffers absorb over 1 MB at once, so `git push`
 * prints "Writing objects: 100%" immediately and then nothing until the server answers (~6 s
 * here). A stall detector that only watches push's progress kills this push.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { git, World, type Operator } from '../helpers/world.js';
import { startGitDaemon, type GitDaemon } from '../helpers/git-daemon.js';
import { startThrottleProxy, type ThrottleProxy } from '../helpers/throttle-proxy.js';
import { advertised, expectRetrieved, KiB } from '../helpers/hosting.js';

let world: World;
let a: Operator;
let b: Operator;
let daemon: GitDaemon;
let slow: ThrottleProxy;
let dead: ThrottleProxy;
const STALL = { SYNCER_GIT_STALL_TIMEOUT: '2' };
const RATE = 64 * KiB;
const SIZE = 384 * KiB; // ~6 s at 64 KiB/s

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  [a, b] = await Promise.all([world.operator('lab-a'), world.operator('lab-b')]);
  daemon = await startGitDaemon({ baseDir: dirname(a.remoteDir) });
  slow = await startThrottleProxy({ targetPort: daemon.port, bytesPerSecond: RATE });
  dead = await startThrottleProxy({ targetPort: daemon.port, mode: 'dead' });
  // Setup pushes go straight to the daemon; peers are told to fetch through the slow link.
  git(a.repo, 'remote', 'set-url', 'origin', daemon.url('lab-a.git'));
  const set = await a.syncer(['config', 'set', 'remoteUrl', `git://${slow.address}/lab-a.git`]);
  expect(set.code, set.stderr).toBe(0);
  a.write({ 'slow/data.bin': randomBytes(SIZE) });
  const r = await a.syncer(['sync', '--hub', 'slow']);
  expect(r.code, r.stderr).toBe(0);
}, 60_000);
afterAll(async () => {
  await slow?.close();
  await dead?.close();
  await daemon?.close();
  world?.cleanup();
});

describe('a slow link that keeps moving', () => {
  it('sync pushes ~6 s of data at 64 KiB/s with a 2 s stall deadline', async () => {
    git(a.repo, 'remote', 'set-url', 'origin', `git://${slow.address}/lab-a.git`);
    try {
      a.write({ 'slowpush/data.bin': randomBytes(SIZE) });
      const before = slow.stats.up;
      const r = await a.syncer(['sync', '--hub', 'slowpush'], { env: STALL, timeoutMs: 90_000 });
      expect(r.code, r.stderr).toBe(0);
      expect(slow.stats.up - before, 'the pack went through the proxy').toBeGreaterThan(SIZE);
      expect(r.ms, 'the transfer outlasted the stall deadline').toBeGreaterThan(4_000);
      const ad = advertised(world, a, 'slowpush');
      expect(ad.remote).toBe(`git://${slow.address}/lab-a.git`);
      expect(git(a.remoteDir, 'rev-parse', `refs/tags/syncer/slowpush/${ad.date}^{commit}`)).toBe(ad.commit);
    } finally {
      git(a.repo, 'remote', 'set-url', 'origin', daemon.url('lab-a.git'));
    }
  }, 90_000);

  it('retrieve fetches ~6 s of data at 64 KiB/s with a 2 s stall deadline', async () => {
    const before = slow.stats.down;
    const r = await b.syncer(['retrieve', '--hub', 'slow', '--date', 'latest', '--operator', 'lab-a', '--json', '--into', join(world.root, 'r-slow')], {
      env: STALL,
      timeoutMs: 90_000,
    });
    expectRetrieved(r, world, a, 'slow');
    expect(slow.stats.down - before, 'the data came through the proxy').toBeGreaterThan(SIZE);
    expect(r.ms, 'the transfer outlasted the stall deadline').toBeGreaterThan(4_000);
  }, 90_000);
});

describe('a dead remote (accepts, never answers)', () => {
  it('retrieve is cut off: exit 4, no progress, within a bound', async () => {
    // Push straight to the daemon, advertise the dead address.
    a.write({ 'dead/x.bin': randomBytes(KiB) });
    expect((await a.syncer(['config', 'set', 'remoteUrl', `git://${dead.address}/lab-a.git`])).code).toBe(0);
    try {
      const s = await a.syncer(['sync', '--hub', 'dead'], { timeoutMs: 60_000 });
      expect(s.code, s.stderr).toBe(0);
    } finally {
      expect((await a.syncer(['config', 'set', 'remoteUrl', `git://${slow.address}/lab-a.git`])).code).toBe(0);
    }

    const r = await b.syncer(['retrieve', '--hub', 'dead', '--date', 'latest', '--operator', 'lab-a', '--into', join(world.root, 'r-dead')], {
      env: STALL,
      timeoutMs: 60_000,
    });
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(/no progress/);
    expect(r.ms, 'cut off near the 2 s deadline').toBeLessThan(20_000);
  }, 90_000);

  it('sync is cut off: exit 4, no progress, nothing advertised', async () => {
    git(a.repo, 'remote', 'set-url', 'origin', `git://${dead.address}/lab-a.git`);
    try {
      a.write({ 'deadpush/x.bin': randomBytes(KiB) });
      const r = await a.syncer(['sync', '--hub', 'deadpush'], { env: STALL, timeoutMs: 60_000 });
      expect(r.code, r.stderr).toBe(4);
      expect(r.stderr).toMatch(/no progress/);
      expect(r.ms).toBeLessThan(20_000);
      expect(world.etcdGet('datasets/deadpush/'), 'nothing advertised').toEqual({});
    } finally {
      git(a.repo, 'remote', 'set-url', 'origin', daemon.url('lab-a.git'));
    }
  }, 60_000);
});
