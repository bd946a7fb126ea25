/** The keys that moved into core/keys.ts: in-progress markers and a watch group's state and election. */
import { describe, expect, it } from 'vitest';
import { keys, parseInProgressKey } from '../../src/core/keys.js';

describe('key layout of in-progress markers and watch groups', () => {
  const k = keys('syncer');
  const id = { hub: 'weather', date: '2026-11-22', operator: 'lab-a' };
  it('lays out the in-progress prefixes', () => {
    expect(k.inProgressPrefix).toBe('syncer/inprogress/');
    expect(k.inProgressUnder()).toBe('syncer/inprogress/');
    expect(k.inProgressUnder('weather')).toBe('syncer/inprogress/weather/');
    expect(k.inProgressUnder('weather', '2026-11-22')).toBe('syncer/inprogress/weather/2026-11-22/');
    expect(k.inProgressUnder(undefined, '2026-11-22')).toBe('syncer/inprogress/');
  });
  it('parses in-progress keys like advertisement keys', () => {
    expect(parseInProgressKey(k, k.inProgress(id))).toEqual(id);
    expect(parseInProgressKey(k, k.dataset(id))).toBeUndefined();
    expect(parseInProgressKey(k, 'syncer/inprogress/weather/2026-11-22')).toBeUndefined();
    expect(parseInProgressKey(k, 'syncer/inprogress/weather/2026-99-22/lab-a')).toBeUndefined();
  });
  it('lays out a watch group: position, known entries (without the namespace) and election', () => {
    const g = k.watchGroup('loaders');
    expect(g.position).toBe('syncer/watch/groups/loaders/position');
    expect(g.knownPrefix).toBe('syncer/watch/groups/loaders/known/');
    expect(g.known(k.dataset(id))).toBe('syncer/watch/groups/loaders/known/datasets/weather/2026-11-22/lab-a');
    expect(g.datasetKeyOf(g.known(k.dataset(id)))).toBe(k.dataset(id));
    expect(g.election).toBe('watch-group-loaders');
  });
});
