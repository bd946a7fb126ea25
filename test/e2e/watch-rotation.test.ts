/**
 * A running watcher keeps delivering an operator's advertisements after that operator rotates its
 * key (it re-reads the operator record when a signature does not verify with the key it holds).
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { World, type Operator } from '../helpers/world.js';
import { killWatchers, startWatcher } from '../helpers/watcher.js';

let world: World;
let a: Operator;
let w: Operator;

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  [a, w] = await Promise.all([world.operator('lab-a'), world.operator('watcher')]);
});
afterAll(async () => {
  await killWatchers();
  world.cleanup();
});

describe('watch across a key rotation', () => {
  it('delivers the advertisement signed with the new key', async () => {
    const watcher = startWatcher(w, ['--hub', 'air']);
    await watcher.waitForStderr(/watching/);
    a.write({ 'air/x.csv': 'x\n1\n' });
    expect((await a.syncer(['sync', '--hub', 'air'], { at: '2026-10-01 12:00:00' })).code).toBe(0);
    await watcher.waitForEvents(1);
    expect((await a.syncer(['keys', 'rotate', '--yes'])).code).toBe(0);
    a.write({ 'air/x.csv': 'x\n2\n' });
    const s = await a.syncer(['sync', '--hub', 'air', '--json'], { at: '2026-10-02 12:00:00' });
    expect(s.code, s.stderr).toBe(0);
    const events = await watcher.waitForEvents(2);
    expect(events[1]).toMatchObject({ type: 'put', date: '2026-10-02', operator: 'lab-a', commit: JSON.parse(s.stdout).commit });
    expect(watcher.stderr).not.toMatch(/bad signature/);
    expect(await watcher.stop('SIGTERM')).toBe(130);
  });
});
