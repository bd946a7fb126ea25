/**
 * A hostile remote that never finishes its list of refs (issue 10): a fake git:// server on
 * loopback, written here, answers every request with pkt-line ref lines (protocol v0) forever, so
 * bytes keep moving and the stall deadline never fires. A reader must still end: the phase before
 * the pack (the remote's refs, the negotiation, the remote's messages) is capped in bytes
 * (SYNCER_GIT_HANDSHAKE_MIB) and in time (SYNCER_GIT_HANDSHAKE_TIMEOUT), lowered here so the
 * file runs quickly. The failure is exit 4 naming the remote, and retrieve leaves nothing behind.
 * An honest remote (a real git daemon) still serves a dataset larger than the byte cap: the pack
 * itself is never capped.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { World, type Operator } from '../helpers/world.js';
import { startGitDaemon, type GitDaemon } from '../helpers/git-daemon.js';
import { expectRetrieved, KiB } from '../helpers/hosting.js';

interface FakeRemote {
  port: number;
  /** Connections accepted, and how many of them the client has closed. */
  stats: { connections: number; closed: number; bytes: number };
  close(): Promise<void>;
}

const pkt = (s: string) => (s.length + 4).toString(16).padStart(4, '0') + s;
const OID = 'a'.repeat(40);

/** A git:// server whose ref advertisement never ends: `fast` as fast as the client reads, else one ref every 50 ms. */
async function startEndlessRemote(mode: 'fast' | 'drip'): Promise<FakeRemote> {
  const stats = { connections: 0, closed: 0, bytes: 0 };
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    stats.connections++;
    sockets.add(sock);
    let n = 0;
    let timer: NodeJS.Timeout | undefined;
    sock.on('error', () => undefined);
    sock.on('close', () => {
      stats.closed++;
      sockets.delete(sock);
      clearTimeout(timer);
    });
    const refs = (count: number) => {
      let s = '';
      for (let i = 0; i < count; i++) s += pkt(`${OID} refs/tags/syncer/junk/${n++}\n`);
      stats.bytes += s.length;
      return s;
    };
    // The client's request ("git-upload-pack /lab-a.git\0host=...\0"), then refs forever.
    sock.once('data', () => {
      sock.write(pkt(`${OID} HEAD\0multi_ack thin-pack side-band side-band-64k ofs-delta shallow no-progress include-tag agent=git/2.39\n`));
      const pump = () => {
        if (sock.destroyed) return;
        if (mode === 'drip') {
          sock.write(refs(1));
          timer = setTimeout(pump, 50);
          return;
        }
        // A chunk at a time, yielding to the test's event loop (loopback takes it as fast as git reads).
        if (sock.write(refs(200))) setImmediate(pump);
        else sock.once('drain', pump);
      };
      pump();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    stats,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

let world: World;
let a: Operator;
let b: Operator;
let fast: FakeRemote;
let drip: FakeRemote;
let daemon: GitDaemon;

/** Advertise hub `hub` of lab-a with peers told to fetch from `url` (the push goes to lab-a's real remote). */
async function advertiseAt(hub: string, url: string, data: Buffer): Promise<void> {
  expect((await a.syncer(['config', 'set', 'remoteUrl', url])).code).toBe(0);
  a.write({ [`${hub}/data.bin`]: data });
  const r = await a.syncer(['sync', '--hub', hub]);
  expect(r.code, r.stderr).toBe(0);
}

/** The one error line (notes, such as a key trusted on first use, may come before it). */
function errorLine(stderr: string): string | undefined {
  const errors = stderr.split('\n').filter((l) => l.startsWith('error:'));
  expect(errors).toHaveLength(1);
  return errors[0];
}

/** Nothing in the retrieve's parent directory: no target, no `.<op>.syncer-tmp-*` beside it. */
function expectNothingLeft(parent: string): void {
  expect(existsSync(parent) ? readdirSync(parent) : []).toEqual([]);
}

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  [a, b] = await Promise.all([world.operator('lab-a'), world.operator('lab-b')]);
  [fast, drip] = await Promise.all([startEndlessRemote('fast'), startEndlessRemote('drip')]);
  daemon = await startGitDaemon({ baseDir: dirname(a.remoteDir), receivePack: false });
  await advertiseAt('endless', `git://127.0.0.1:${fast.port}/lab-a.git`, randomBytes(KiB));
  await advertiseAt('dripping', `git://127.0.0.1:${drip.port}/lab-a.git`, randomBytes(KiB));
  // Through the real daemon: a dataset of 3 MiB, more than the 1 MiB cap the tests set.
  await advertiseAt('honest', daemon.url('lab-a.git'), randomBytes(3 * 1024 * KiB));
}, 90_000);
afterAll(async () => {
  await fast?.close();
  await drip?.close();
  await daemon?.close();
  world?.cleanup();
});

describe('a remote whose list of refs never ends', () => {
  it('retrieve stops once the remote sent more than the cap before any data: exit 4 naming the remote, nothing left', async () => {
    const parent = join(world.root, 'endless');
    const r = await b.syncer(['retrieve', '--hub', 'endless', '--date', 'latest', '--operator', 'lab-a', '--into', join(parent, 'data')], {
      env: { SYNCER_GIT_HANDSHAKE_MIB: '1' },
      timeoutMs: 120_000,
    });
    expect(r.code, r.stderr).toBe(4);
    expect(errorLine(r.stderr)).toMatch(
      new RegExp(`^error: git fetch of syncer/endless/\\S+ from git://127\\.0\\.0\\.1:${fast.port}/lab-a\\.git was stopped: the remote sent over 1 MiB`),
    );
    expect(r.stderr).toMatch(/SYNCER_GIT_HANDSHAKE_MIB/);
    expect(fast.stats.bytes, 'the remote did send more than the cap').toBeGreaterThan(1024 * KiB);
    expect(fast.stats.closed, 'git hung up').toBe(fast.stats.connections);
    expectNothingLeft(parent);
  }, 150_000);

  it('retrieve stops when a slow, endless list outlasts the time cap although bytes keep moving: exit 4', async () => {
    const parent = join(world.root, 'dripping');
    const r = await b.syncer(['retrieve', '--hub', 'dripping', '--date', 'latest', '--operator', 'lab-a', '--into', join(parent, 'data')], {
      // The stall deadline (2 s) would fire were a ref every 50 ms not movement.
      env: { SYNCER_GIT_HANDSHAKE_TIMEOUT: '4', SYNCER_GIT_STALL_TIMEOUT: '2' },
      timeoutMs: 120_000,
    });
    expect(r.code, r.stderr).toBe(4);
    expect(errorLine(r.stderr)).toMatch(
      new RegExp(`^error: git fetch of syncer/dripping/\\S+ from git://127\\.0\\.0\\.1:${drip.port}/lab-a\\.git was stopped: the remote sent no data in 4 s`),
    );
    expect(r.stderr).not.toMatch(/no progress/);
    expect(r.stderr).toMatch(/SYNCER_GIT_HANDSHAKE_TIMEOUT/);
    expect(drip.stats.closed, 'git hung up').toBe(drip.stats.connections);
    expectNothingLeft(parent);
  }, 150_000);

  it('an honest remote serves a dataset larger than the byte cap: the pack is not capped', async () => {
    const r = await b.syncer(['retrieve', '--hub', 'honest', '--date', 'latest', '--operator', 'lab-a', '--json', '--into', join(world.root, 'honest')], {
      env: { SYNCER_GIT_HANDSHAKE_MIB: '1', SYNCER_GIT_HANDSHAKE_TIMEOUT: '60' },
      timeoutMs: 120_000,
    });
    expectRetrieved(r, world, a, 'honest');
  }, 150_000);

  it('a bad cap is refused before any work: exit 2 naming the variable', async () => {
    const r = await b.syncer(['ls'], { env: { SYNCER_GIT_HANDSHAKE_MIB: '0' } });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/SYNCER_GIT_HANDSHAKE_MIB/);
  });
});
