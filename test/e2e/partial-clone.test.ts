/**
 * retrieve fetches only the dataset's blobs where the remote allows it: the remote is served over
 * file:// with uploadpack.allowFilter (TECH-NOTES "Partial clone and test remotes"), and also over
 * git:// by a real `git daemon` on loopback.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { git, World, type Operator } from '../helpers/world.js';
import { freePort } from '../helpers/etcd.js';

let world: World;
let a: Operator;
let b: Operator;
const MB = 1024 * 1024;

/** Objects actually present in a repository's object store (no lazy fetch). */
function localObjects(repo: string): Map<string, { type: string; size: number }> {
  const out = git(repo, 'cat-file', '--batch-all-objects', '--batch-check=%(objectname) %(objecttype) %(objectsize)');
  return new Map(
    out
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [id, type, size] = l.split(' ');
        return [id!, { type: type!, size: Number(size) }];
      }),
  );
}

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  [a, b] = await Promise.all([world.operator('lab-a'), world.operator('lab-b')]);
  // Three datasets of 2 MB of incompressible data each, in one repository.
  for (const hub of ['alpha', 'beta', 'gamma']) {
    a.write({ [`${hub}/part1.bin`]: randomBytes(MB), [`${hub}/part2.bin`]: randomBytes(MB) });
    const r = await a.syncer(['sync', '--hub', hub]);
    expect(r.code, r.stderr).toBe(0);
  }
});
afterAll(() => world.cleanup());

describe('partial clone', () => {
  it('over file:// with filters allowed: only the dataset blobs arrive', async () => {
    const r = await b.syncer(['retrieve', '--hub', 'beta', '--date', 'latest', '--operator', 'lab-a', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const { target, commit } = JSON.parse(r.stdout);
    expect(readFileSync(join(target, 'beta/part1.bin'))).toEqual(readFileSync(join(a.repo, 'beta/part1.bin')));
    const objects = localObjects(target);
    const blobs = [...objects.values()].filter((o) => o.type === 'blob');
    // The two blobs of beta, and nothing of alpha or gamma.
    for (const hub of ['alpha', 'gamma']) {
      for (const part of ['part1.bin', 'part2.bin']) expect(objects.has(git(a.repo, 'rev-parse', `HEAD:${hub}/${part}`))).toBe(false);
    }
    for (const part of ['part1.bin', 'part2.bin']) expect(objects.has(git(a.repo, 'rev-parse', `${commit}:beta/${part}`))).toBe(true);
    expect(blobs.reduce((n, o) => n + o.size, 0)).toBeLessThan(2.2 * MB);
    expect(git(target, 'config', 'remote.origin.promisor')).toBe('true');
  });

  describe('over git:// from a real git daemon', () => {
    let daemon: ChildProcess;
    let port: number;
    beforeAll(async () => {
      port = await freePort();
      daemon = spawn(
        'git',
        ['daemon', '--reuseaddr', '--export-all', `--base-path=${dirname(a.remoteDir)}`, `--port=${port}`, '--listen=127.0.0.1', dirname(a.remoteDir)],
        { stdio: 'ignore' },
      );
      for (let i = 0; i < 50; i++) {
        try {
          git(world.root, 'ls-remote', `git://127.0.0.1:${port}/lab-a.git`);
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      // Peers clone from the daemon: advertise that URL.
      const set = await a.syncer(['config', 'set', 'remoteUrl', `git://127.0.0.1:${port}/lab-a.git`]);
      expect(set.code, set.stderr).toBe(0);
      const r = await a.syncer(['sync', '--hub', 'gamma']);
      expect(r.code, r.stderr).toBe(0);
    });
    afterAll(() => daemon?.kill());

    it('fetches only the dataset blobs', async () => {
      const r = await b.syncer(['retrieve', '--hub', 'gamma', '--date', 'latest', '--operator', 'lab-a', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const { target, commit } = JSON.parse(r.stdout);
      expect(git(target, 'remote', 'get-url', 'origin')).toBe(`git://127.0.0.1:${port}/lab-a.git`);
      expect(git(target, 'rev-parse', 'HEAD')).toBe(commit);
      const objects = localObjects(target);
      expect(objects.has(git(a.repo, 'rev-parse', `${commit}:alpha/part1.bin`))).toBe(false);
      expect(objects.has(git(a.repo, 'rev-parse', `${commit}:gamma/part1.bin`))).toBe(true);
      expect(readFileSync(join(target, 'gamma/part2.bin'))).toEqual(readFileSync(join(a.repo, 'gamma/part2.bin')));
    });

    it('allowedTransports only adds: a list without git (an old config) still allows git://', async () => {
      const r = await b.syncer(['retrieve', '--hub', 'gamma', '--date', 'latest', '--operator', 'lab-a', '--into', join(world.root, 'nogit')], {
        env: { SYNCER_ALLOWED_TRANSPORTS: 'https,ssh,file' },
      });
      expect(r.code, r.stderr).toBe(0);
    });
  });
});
