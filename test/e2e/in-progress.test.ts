/**
 * A running sync announces itself under <ns>inprogress/<hub>/<date>/<operator> (lease-bound), and
 * the advertisement's transaction removes it. Observed from inside the push with a git hook.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { World, type Operator } from '../helpers/world.js';

let world: World;
let a: Operator;

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  a = await world.operator('lab-a');
});
afterAll(() => world.cleanup());

describe('in-progress marker', () => {
  it('exists while the push runs, carries the run id of the advertisement, and is gone afterwards', async () => {
    const seen = join(world.root, 'seen.txt');
    const hook = join(a.remoteDir, 'hooks', 'pre-receive');
    writeFileSync(hook, `#!/bin/sh\nETCDCTL_API=3 etcdctl --endpoints '${world.etcdHosts}' get --prefix '${world.namespace}inprogress/' > '${seen}'\ncat >/dev/null\n`);
    chmodSync(hook, 0o755);
    a.write({ 'weather/t.csv': 't\n1\n' });
    const r = await a.syncer(['sync', '--hub', 'weather', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const { date } = JSON.parse(r.stdout);
    const lines = readFileSync(seen, 'utf8').trim().split('\n');
    expect(lines[0]).toBe(`${world.namespace}inprogress/weather/${date}/lab-a`);
    const marker = JSON.parse(lines[1]!);
    const ad = JSON.parse(world.etcdGet(`datasets/weather/${date}/lab-a`)[`${world.namespace}datasets/weather/${date}/lab-a`]!);
    expect(marker.runId).toBe(ad.runId);
    expect(Date.parse(marker.startedAt)).toBeLessThanOrEqual(Date.parse(ad.syncedAt));
    expect(world.etcdGet('inprogress/')).toEqual({});
  });

  it('ls --all shows syncs in progress, marked; plain ls does not', async () => {
    world.etcdPut('inprogress/weather/2026-11-30/lab-z', JSON.stringify({ runId: 'run-z', startedAt: '2026-11-30T10:00:00.000Z' }));
    const plain = await a.syncer(['ls', 'weather', '--json']);
    expect(JSON.parse(plain.stdout).map((d: { date: string }) => d.date)).not.toContain('2026-11-30');
    const dates = await a.syncer(['ls', 'weather', '--all', '--json']);
    expect(JSON.parse(dates.stdout)[0]).toEqual({ date: '2026-11-30', operators: [], inProgress: ['lab-z'] });
    const one = await a.syncer(['ls', 'weather', '2026-11-30', '--all', '--json']);
    expect(JSON.parse(one.stdout)).toEqual([{ operator: 'lab-z', inProgress: true, runId: 'run-z', startedAt: '2026-11-30T10:00:00.000Z' }]);
    const text = await a.syncer(['ls', 'weather', '2026-11-30', '--all']);
    expect(text.stdout).toMatch(/lab-z \(in progress\)/);
  });
});
