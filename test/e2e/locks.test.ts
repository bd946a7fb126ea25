/**
 * Two syncs of one repository, or two retrieves into one target, never interleave: the second
 * waits for the first (and says so), then does its own work.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { chmodSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { git, World, type Operator } from '../helpers/world.js';

let world: World;
let a: Operator;
let b: Operator;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  [a, b] = await Promise.all([world.operator('lab-a'), world.operator('lab-b')]);
});
afterAll(() => world.cleanup());

describe('local locks', () => {
  it('a second sync of the same repository waits for the first', async () => {
    const hook = join(a.remoteDir, 'hooks', 'pre-receive');
    writeFileSync(hook, '#!/bin/sh\ncat >/dev/null\nsleep 2\n');
    chmodSync(hook, 0o755);
    a.write({ 'weather/t.csv': 't\n1\n' });
    const before = Number(git(a.repo, 'rev-list', '--count', 'HEAD'));
    const first = a.syncer(['sync', '--hub', 'weather', '--json']);
    await sleep(700);
    const second = a.syncer(['sync', '--hub', 'weather', '--json']);
    const [r1, r2] = await Promise.all([first, second]);
    rmSync(hook);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r2.code, r2.stderr).toBe(0);
    const [winner, waiter] = /waiting for another syncer sync/.test(r2.stderr) ? [r1, r2] : [r2, r1];
    expect(waiter.stderr).toMatch(/waiting for another syncer sync/);
    expect(JSON.parse(winner.stdout).committed).toBe(true);
    expect(JSON.parse(waiter.stdout)).toMatchObject({ committed: false, commit: JSON.parse(winner.stdout).commit });
    expect(Number(git(a.repo, 'rev-list', '--count', 'HEAD'))).toBe(before + 1);
  });

  it('a second retrieve into the same target waits, then updates the checkout in place', async () => {
    // Slow down the serving side of the fetch (upload-pack's pack-objects) for both retrieves.
    const slow = join(world.root, 'slow-pack.sh');
    writeFileSync(slow, '#!/bin/sh\nsleep 2\nexec "$@"\n');
    chmodSync(slow, 0o755);
    const gitconfig = join(world.root, 'slow.gitconfig');
    writeFileSync(gitconfig, `[uploadpack]\n\tpackObjectsHook = ${slow}\n`);
    const env = { GIT_CONFIG_GLOBAL: gitconfig };
    const args = ['retrieve', '--hub', 'weather', '--date', 'latest', '--operator', 'lab-a', '--json'];
    const first = b.syncer(args, { env });
    await sleep(700);
    const second = b.syncer(args, { env });
    const [r1, r2] = await Promise.all([first, second]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r2.code, r2.stderr).toBe(0);
    // Whichever took the lock first cloned; the other waited, then updated in place.
    const [winner, waiter] = /waiting for another syncer retrieve/.test(r2.stderr) ? [r1, r2] : [r2, r1];
    expect(waiter.stderr).toMatch(/waiting for another syncer retrieve/);
    expect(winner.stderr).not.toMatch(/waiting/);
    expect(JSON.parse(winner.stdout).updated).toBe(false);
    expect(JSON.parse(waiter.stdout).updated).toBe(true);
    const { target, dataPath } = JSON.parse(waiter.stdout);
    expect(readFileSync(join(dataPath, 't.csv'), 'utf8')).toBe('t\n1\n');
    expect(git(target, 'rev-parse', 'HEAD')).toBe(git(a.repo, 'rev-parse', 'HEAD'));
    // Nothing but the checkout is left beside it (no temporary clone, no lock).
    expect(readdirSync(join(target, '..'))).toEqual(['lab-a']);
  });
});
