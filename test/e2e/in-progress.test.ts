/**
 * A running sync announces itself under <ns>inprogress/<hub>/<date>/<operator> (lease-bound), and
 * the advertisement's transaction removes it. Observed from inside the push with a git hook.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { World, type Operator } from '../helpers/world.js';

/** The UTC date after today's, by the clock of this process (faked in scripts/test-dates.sh). */
const tomorrowUtc = () => new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);

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
    writeFileSync(
      hook,
      `#!/bin/sh\nETCDCTL_API=3 etcdctl --endpoints '${world.etcdHosts}' get --prefix '${world.namespace}inprogress/' > '${seen}'\ncat >/dev/null\n`,
    );
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
    // A sync that started just before midnight and is still running: its date is the newest one,
    // after today's dataset of the test above (dates from the clock, never written in).
    const day = tomorrowUtc();
    const startedAt = `${day}T00:00:01.000Z`;
    world.etcdPut(`inprogress/weather/${day}/lab-z`, JSON.stringify({ runId: 'run-z', startedAt }));
    const plain = await a.syncer(['ls', 'weather', '--json']);
    expect(JSON.parse(plain.stdout).map((d: { date: string }) => d.date)).not.toContain(day);
    const dates = await a.syncer(['ls', 'weather', '--all', '--json']);
    expect(JSON.parse(dates.stdout)[0]).toEqual({ date: day, operators: [], inProgress: ['lab-z'] });
    const one = await a.syncer(['ls', 'weather', day, '--all', '--json']);
    expect(JSON.parse(one.stdout)).toEqual([{ operator: 'lab-z', inProgress: true, runId: 'run-z', startedAt }]);
    const text = await a.syncer(['ls', 'weather', day, '--all']);
    expect(text.stdout).toMatch(/lab-z \(in progress\)/);
  });
});
