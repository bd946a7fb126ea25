import { describe, expect, it } from 'vitest';
import { keys, parseDatasetKey, parseDateIndexKey, prefixEnd, tagName } from '../../src/core/keys.js';

describe('key layout', () => {
  const k = keys('syncer');
  const id = { hub: 'weather', date: '2026-11-22', operator: 'lab-a' };
  it('adds the trailing slash to the namespace', () => expect(k.namespace).toBe('syncer/'));
  it('lays out SPEC keys', () => {
    expect(k.dataset(id)).toBe('syncer/datasets/weather/2026-11-22/lab-a');
    expect(k.inProgress(id)).toBe('syncer/inprogress/weather/2026-11-22/lab-a');
    expect(k.operator('lab-a')).toBe('syncer/operators/lab-a');
    expect(k.dateIndex('weather', '2026-11-22')).toBe('syncer/index/dates/weather/2026-11-22');
    expect(tagName('weather', '2026-11-22')).toBe('syncer/weather/2026-11-22');
  });
  it('round-trips dataset keys and refuses malformed ones', () => {
    expect(parseDatasetKey(k, k.dataset(id))).toEqual(id);
    expect(parseDatasetKey(k, 'syncer/datasets/weather/2026-11-22')).toBeUndefined();
    expect(parseDatasetKey(k, 'syncer/datasets/weather/2026-11-22/lab-a/x')).toBeUndefined();
    expect(parseDatasetKey(k, 'syncer/datasets/../2026-11-22/lab-a')).toBeUndefined();
    expect(parseDatasetKey(k, 'syncer/datasets/weather/2026-99-22/lab-a')).toBeUndefined();
    expect(parseDatasetKey(k, 'other/datasets/weather/2026-11-22/lab-a')).toBeUndefined();
    expect(parseDateIndexKey(k, k.dateIndex('weather', '2026-11-22'))).toEqual({ hub: 'weather', date: '2026-11-22' });
  });
  it('computes the end of a prefix range', () => {
    expect(prefixEnd('abc').toString()).toBe('abd');
    expect(prefixEnd('a/').toString()).toBe('a0');
  });
});
