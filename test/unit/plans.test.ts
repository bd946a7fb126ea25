import { describe, expect, it } from 'vitest';
import { latestDate, leftoverPlan, targetAction } from '../../src/commands/retrieve/plan.js';
import { buildAdvertisement, hubChoices } from '../../src/commands/sync/plan.js';
import { parseAdvertisement } from '../../src/core/advertisement.js';

describe('retrieve planning', () => {
  const dates = [
    { date: '2026-11-22', operators: ['lab-b'] },
    { date: '2026-11-20', operators: ['lab-a', 'lab-b'] },
    { date: '2026-11-01', operators: ['lab-a'] },
  ];
  it('latest is the newest date, by operator when given', () => {
    expect(latestDate(dates)).toBe('2026-11-22');
    expect(latestDate(dates, 'lab-a')).toBe('2026-11-20');
    expect(latestDate(dates, 'lab-c')).toBeUndefined();
  });
  it('decides what to do with the target', () => {
    expect(targetAction({ kind: 'absent' }, false)).toEqual({ action: 'clone' });
    expect(targetAction({ kind: 'same-dataset', clean: true }, false)).toEqual({ action: 'update' });
    expect(targetAction({ kind: 'same-dataset', clean: false }, false)).toHaveProperty('refuse');
    expect(targetAction({ kind: 'same-dataset', clean: false }, true)).toEqual({ action: 'update' });
    expect(targetAction({ kind: 'foreign' }, false)).toHaveProperty('refuse');
    expect(targetAction({ kind: 'foreign' }, true)).toEqual({ action: 'replace' });
  });
  it('completes an update syncer left unfinished, whatever the working tree shows', () => {
    expect(targetAction({ kind: 'same-dataset', clean: false, unfinished: true }, false)).toEqual({ action: 'complete' });
    expect(targetAction({ kind: 'same-dataset', clean: false, unfinished: true }, true)).toEqual({ action: 'complete' });
  });
  describe('what dead retrieves left beside the target', () => {
    const siblings = [
      'data',
      '.data.syncer-tmp-0a1b2c3d',
      '.data.syncer-lock',
      '.data.syncer-old-deadbeef',
      '.database.syncer-tmp-00000000',
      '.data.syncer-tmp-notahex',
      'other',
    ];
    it('removes clones; puts the moved-aside directory back when the target is missing', () => {
      expect(leftoverPlan('data', siblings, 'absent')).toEqual({ restore: '.data.syncer-old-deadbeef', remove: ['.data.syncer-tmp-0a1b2c3d'], keep: [] });
    });
    it('removes what a finished checkout replaced', () => {
      expect(leftoverPlan('data', siblings, 'checkout')).toEqual({ remove: ['.data.syncer-tmp-0a1b2c3d', '.data.syncer-old-deadbeef'], keep: [] });
    });
    it('keeps a moved-aside directory when the target holds anything else, or when it is not the only candidate', () => {
      expect(leftoverPlan('data', siblings, 'other')).toEqual({ remove: ['.data.syncer-tmp-0a1b2c3d'], keep: ['.data.syncer-old-deadbeef'] });
      const two = ['.data.syncer-old-00000001', '.data.syncer-old-00000002'];
      expect(leftoverPlan('data', two, 'absent')).toEqual({ remove: [], keep: two });
    });
    it('matches the target name exactly (regex characters included)', () => {
      expect(leftoverPlan('a.b', ['.a.b.syncer-tmp-01', '.aXb.syncer-tmp-02'], 'absent').remove).toEqual(['.a.b.syncer-tmp-01']);
    });
  });
});

describe('sync planning', () => {
  it('builds an advertisement that the reader accepts', () => {
    const ad = buildAdvertisement({
      hub: 'weather',
      date: '2026-11-22',
      operator: 'lab-a',
      remote: 'file:///srv/a.git',
      branch: 'main',
      commit: 'b'.repeat(40),
      path: 'weather',
      files: 2,
      bytes: 10,
      message: 'sync weather 2026-11-22',
      now: new Date('2026-11-22T08:00:00Z'),
    });
    expect(ad.tag).toBe('syncer/weather/2026-11-22');
    expect(parseAdvertisement(JSON.stringify(ad), { expect: { hub: 'weather', date: '2026-11-22', operator: 'lab-a' } }).ok).toBe(true);
  });
  it('offers repo directories that are valid hub names and registry hubs', () => {
    expect(hubChoices(['weather', 'Bad Dir', 'soil'], ['air', 'soil'])).toEqual(['air', 'soil', 'weather']);
  });
});
