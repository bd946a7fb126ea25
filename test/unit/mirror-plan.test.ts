import { describe, expect, it } from 'vitest';
import { emptyState, planStage1, planStage2, setApartReplays, type MirrorState } from '../../src/commands/mirror/plan.js';
import type { Advertisement } from '../../src/core/advertisement.js';

const ad = (date: string, operator = 'lab-a', runId = `${date}-${operator}`): Advertisement => ({
  schema: 1,
  hub: 'air',
  date,
  operator,
  remote: 'file:///r',
  branch: 'main',
  commit: 'a'.repeat(40),
  tag: `syncer/air/${date}`,
  path: 'air',
  files: 1,
  bytes: 1,
  message: 'm',
  syncedAt: `${date}T12:00:00.000Z`,
  runId,
});
const now = new Date('2026-09-20T12:00:00Z');

describe('mirror stage 2', () => {
  it('first run for a hub: only the newest N dates', () => {
    const ads = ['2026-09-01', '2026-09-02', '2026-09-03', '2026-09-04'].map((d) => ad(d));
    const plan = planStage2(emptyState(), ads, [], 2, new Set());
    expect(plan.floors).toEqual({ air: '2026-09-03' });
    expect(plan.mirror.map((a) => a.date)).toEqual(['2026-09-03', '2026-09-04']);
  });
  it('afterwards: new dates, replacements and other operators from the window on; mirrored ones skipped', () => {
    const state: MirrorState = {
      version: 1,
      hubs: { air: { floor: '2026-09-03' } },
      entries: { 'air/2026-09-03/lab-a': { hub: 'air', date: '2026-09-03', operator: 'lab-a', status: 'mirrored', runId: '2026-09-03-lab-a', updatedAt: '' } },
    };
    const ads = [ad('2026-09-01'), ad('2026-09-03'), ad('2026-09-03', 'lab-b'), ad('2026-09-04'), ad('2026-09-03', 'lab-a', 'later-run')].slice(0, 4);
    expect(planStage2(state, ads, [], 28, new Set()).mirror.map((a) => `${a.date}/${a.operator}`)).toEqual(['2026-09-03/lab-b', '2026-09-04/lab-a']);
    const replaced = planStage2(state, [ad('2026-09-03', 'lab-a', 'later-run')], [], 28, new Set());
    expect(replaced.mirror).toHaveLength(1);
  });
  it('records runs in progress once, unless their advertisement is already there', () => {
    const run = { hub: 'air', date: '2026-09-05', operator: 'lab-a', runId: 'r1', startedAt: '' };
    expect(planStage2(emptyState(), [], [run], 28, new Set()).inProgress).toEqual([run]);
    expect(planStage2(emptyState(), [ad('2026-09-05', 'lab-a', 'r1')], [run], 28, new Set()).inProgress).toEqual([]);
  });
});

describe('mirror stage 1', () => {
  const state = (firstSeen: string): MirrorState => ({
    version: 1,
    hubs: {},
    entries: {
      'air/2026-09-05/lab-a': { hub: 'air', date: '2026-09-05', operator: 'lab-a', status: 'in-progress', runId: 'r1', firstSeen, updatedAt: firstSeen },
    },
  });
  const running = new Map([['air/2026-09-05/lab-a', { hub: 'air', date: '2026-09-05', operator: 'lab-a', runId: 'r1', startedAt: '' }]]);
  it('completed since (same run id): mirror it', () => {
    const d = planStage1(state('2026-09-20T11:00:00Z'), new Map([['air/2026-09-05/lab-a', ad('2026-09-05', 'lab-a', 'r1')]]), new Map(), now, 120);
    expect(d[0]).toMatchObject({ action: 'mirror' });
  });
  it("still running within the timeout: wait; past it (by the mirror's clock): unknown", () => {
    expect(planStage1(state('2026-09-20T11:00:00Z'), new Map(), running, now, 120)[0]).toMatchObject({ action: 'wait' });
    expect(planStage1(state('2026-09-20T09:00:00Z'), new Map(), running, now, 120)[0]).toMatchObject({ action: 'unknown' });
  });
  it('gone without completing (or replaced by another run): unknown', () => {
    expect(planStage1(state('2026-09-20T11:00:00Z'), new Map(), new Map(), now, 120)[0]).toMatchObject({ action: 'unknown' });
    expect(
      planStage1(state('2026-09-20T11:00:00Z'), new Map([['air/2026-09-05/lab-a', ad('2026-09-05', 'lab-a', 'other')]]), new Map(), now, 120)[0],
    ).toMatchObject({ action: 'unknown' });
  });
});

describe('replays', () => {
  it('an advertisement older than the one mirrored for its key is set apart; newer and unknown ones are not', () => {
    const state: MirrorState = emptyState();
    state.entries['air/2026-09-01/lab-a'] = {
      hub: 'air',
      date: '2026-09-01',
      operator: 'lab-a',
      status: 'mirrored',
      runId: 'r2',
      syncedAt: '2026-09-01T12:00:00.000Z',
      updatedAt: '2026-09-01T12:00:00.000Z',
    };
    const replay = { ...ad('2026-09-01', 'lab-a', 'r1'), syncedAt: '2026-09-01T10:00:00.000Z' };
    const newer = { ...ad('2026-09-01', 'lab-a', 'r3'), syncedAt: '2026-09-01T14:00:00.000Z' };
    expect(setApartReplays(state, [replay]).older.map((o) => o.ad.runId)).toEqual(['r1']);
    expect(setApartReplays(state, [newer, ad('2026-09-02')]).fresh).toHaveLength(2);
  });
});
