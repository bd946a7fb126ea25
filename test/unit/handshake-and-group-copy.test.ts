/**
 * Issue 10, with stand-ins: what a git handshake is charged (bytes the process tree took in, pipes
 * between its processes cancelling out), an `ls-remote` of a real git against an endless list of
 * refs on loopback, and a watch group's local copy of its position (used only when etcd lost it).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keys } from '../../src/core/keys.js';
import { handshakeFailure } from '../../src/core/git-failure.js';
import { bytesTakenIn, type TreeIo } from '../../src/adapters/transfer-activity.js';
import { runGitProcess } from '../../src/adapters/git-process.js';
import type { Registry } from '../../src/adapters/registry.js';
import type { Known } from '../../src/commands/watch/events.js';
import { groupStore } from '../../src/commands/watch/state.js';

describe('what a handshake is charged', () => {
  it('counts what the tree took in: a relay through a pipe (ssh to git) counts once, what went out is deducted', () => {
    const io: TreeIo = new Map([
      [1, { read: 5_000, written: 200 }], // git: read from the pipe, wrote its wants
      [2, { read: 5_200, written: 5_000 }], // ssh: read the socket and git's wants, wrote to git
    ]);
    expect(bytesTakenIn(io)).toBe(5_000);
    expect(bytesTakenIn(new Map([[1, { read: 10, written: 500 }]]))).toBe(0);
  });

  it('says what happened and which variable to raise', () => {
    const limits = { maxBytes: 64 * 1048576, maxMs: 600_000 };
    expect(handshakeFailure('bytes', limits)).toEqual({
      reason: 'the remote sent over 64 MiB before any data (an endless list of refs or messages)',
      hint: expect.stringMatching(/SYNCER_GIT_HANDSHAKE_MIB raised \(default 64\)$/),
    });
    expect(handshakeFailure('time', limits).reason).toBe('the remote sent no data in 600 s, only refs or messages');
    expect(handshakeFailure('time', limits).hint).toMatch(/SYNCER_GIT_HANDSHAKE_TIMEOUT raised \(seconds, default 600\)$/);
  });

  it('stops a real git ls-remote of an endless list of refs once it took in more than the cap', async () => {
    const pkt = (s: string) => (s.length + 4).toString(16).padStart(4, '0') + s;
    const oid = 'b'.repeat(40);
    let n = 0;
    const server = createServer((sock) => {
      sock.on('error', () => undefined);
      sock.once('data', () => {
        sock.write(pkt(`${oid} HEAD\0multi_ack side-band-64k ofs-delta\n`));
        // A chunk at a time, yielding: git and this server share the test's event loop.
        const pump = () => {
          if (sock.destroyed) return;
          let chunk = '';
          for (let i = 0; i < 200; i++) chunk += pkt(`${oid} refs/tags/t${n++}\n`);
          if (sock.write(chunk)) setImmediate(pump);
          else sock.once('drain', pump);
        };
        pump();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const port = (server.address() as { port: number }).port;
      const res = await runGitProcess(['ls-remote', `git://127.0.0.1:${port}/x.git`], {
        cwd: tmpdir(),
        env: { PATH: process.env.PATH ?? '', HOME: tmpdir(), GIT_CONFIG_NOSYSTEM: '1' },
        stallMs: 60_000,
        handshake: { maxBytes: 512 * 1024, maxMs: 600_000 },
      });
      expect(res.handshake).toBe('bytes');
      expect(res.stalled).toBe(false);
      expect(n * 60, 'the remote sent more than the cap').toBeGreaterThan(512 * 1024);
    } finally {
      server.close();
    }
  }, 60_000);
});

const k = keys('ns/');
const a = k.dataset({ hub: 'weather', date: '2026-01-01', operator: 'lab-a' });
const b = k.dataset({ hub: 'weather', date: '2026-01-02', operator: 'lab-b' });

function fakeRegistry(stored: { position?: string; known?: Record<string, string> }) {
  const writes: unknown[][] = [];
  const registry = {
    keys: k,
    hosts: ['http://127.0.0.1:2379'],
    header: async () => ({ clusterId: 'new-cluster', revision: '3' }),
    readWatchPosition: async () => stored.position,
    async *readWatchKnown() {
      for (const [key, value] of Object.entries(stored.known ?? {})) yield { key, value };
    },
    saveWatchState: async (...args: unknown[]) => {
      writes.push(args);
      return true;
    },
  };
  return { registry: registry as unknown as Registry, writes };
}

describe("a watch group's local copy of its position", () => {
  const dir = mkdtempSync(join(tmpdir(), 'syncer-group-copy-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const leader = { key: 'election/key', onLost: () => {} };

  it('is written with every save; after a wipe (no position in etcd) it is the position, rebased for a re-list, with one warning', async () => {
    const file = join(dir, 'group-1.json');
    const warnings: string[] = [];
    const known: Known = { [a]: { rev: '20', commit: 'c1' } };
    const first = groupStore(fakeRegistry({}).registry, 'g', leader, { file, warn: (m) => warnings.push(m) });
    expect(await first.load()).toBeUndefined();
    await first.save({ revision: '21', known, cluster: 'old-cluster', seen: '25' });
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ revision: '21', known, cluster: 'old-cluster' });

    const { registry, writes } = fakeRegistry({});
    const again = groupStore(registry, 'g', leader, { file, warn: (m) => warnings.push(m) });
    expect(await again.load()).toEqual({ revision: '0', known: { [a]: { rev: '0', commit: 'c1' } }, cluster: 'new-cluster', seen: '3' });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/the position of watch group g is gone from etcd at http:\/\/127\.0\.0\.1:2379 .*re-listing/);
    // The first save after that writes the whole position to etcd (which lost it), not only what changed.
    await again.save({ revision: '0', known: { [a]: { rev: '0', commit: 'c1' }, [b]: { rev: '2', commit: 'c2' } } }, [b]);
    expect(writes[0]![4]).toBe(true);
    expect((writes[0]![3] as unknown[]).length).toBe(2);
  });

  it('is not used while etcd has the position (another machine may have led since): it is rewritten from it at once', async () => {
    const file = join(dir, 'group-2.json');
    const stale = groupStore(fakeRegistry({}).registry, 'g', leader, { file, warn: () => {} });
    await stale.save({ revision: '5', known: { [b]: { rev: '4', commit: 'old' } } });
    const known = { [a]: JSON.stringify({ rev: '30', commit: 'c3' }) };
    const warnings: string[] = [];
    const store = groupStore(fakeRegistry({ position: JSON.stringify({ revision: '31' }), known }).registry, 'g', leader, {
      file,
      warn: (m) => warnings.push(m),
    });
    const position = await store.load();
    expect(position).toEqual({ revision: '31', known: { [a]: { rev: '30', commit: 'c3' } } });
    expect(warnings).toEqual([]);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toMatchObject({ revision: '31', known: { [a]: { rev: '30', commit: 'c3' } } });
    // ...and kept up to date by every save from then on.
    await store.save({ revision: '32', known: { ...position!.known, [b]: { rev: '32', commit: 'c4' } } }, [b]);
    expect(await groupStore(fakeRegistry({}).registry, 'g', leader, { file, warn: () => {} }).load()).toMatchObject({
      known: { [a]: { rev: '0', commit: 'c3' }, [b]: { rev: '0', commit: 'c4' } },
    });
  });
});
