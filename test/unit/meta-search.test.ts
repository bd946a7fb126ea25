/** search's decisions (issue 14): matching, scores, filters and grouping. */
import { describe, expect, it } from 'vitest';
import type { Advertisement } from '../../src/core/advertisement.js';
import { groupCandidates, keyPasses, licensePasses, matchScore, mayMatch, queryTerms, rankResults } from '../../src/core/meta-search.js';

const ad = (hub: string, date: string, operator: string, meta?: Advertisement['meta']) => ({ hub, date, operator, ...(meta ? { meta } : {}) }) as Advertisement;
const rain = ad('rain', '2026-11-22', 'lab-a', {
  title: 'Rain gauges',
  description: 'Hourly values',
  keywords: ['Precipitation', 'hydrology'],
  licenses: ['CC-BY-4.0'],
  resources: ['gauges'],
});

describe('search', () => {
  it('every term must match somewhere; keywords weigh most', () => {
    expect(queryTerms('  Rain  GAUGES ')).toEqual(['rain', 'gauges']);
    expect(matchScore(rain, ['precipitation'])).toBe(4);
    expect(matchScore(rain, ['precip'])).toBe(3);
    expect(matchScore(rain, ['rain'])).toBe(3);
    expect(matchScore(rain, ['hourly'])).toBe(1);
    expect(matchScore(rain, ['hourly', 'snow'])).toBe(0);
    expect(matchScore(ad('snow', '2026-11-22', 'lab-b'), ['sno'])).toBe(2);
    expect(matchScore(ad('snow', '2026-11-22', 'lab-b'), [])).toBe(1);
  });
  it('the raw text test never rules out what could match', () => {
    expect(mayMatch('{"meta":{"title":"rain"}}', ['rain'])).toBe(true);
    expect(mayMatch('{"meta":{"title":"rain"}}', ['snow'])).toBe(false);
    expect(mayMatch('{"title":"a\\"b"}', ['a"b'])).toBe(true);
    expect(mayMatch('{"title":"caf\\u00e9"}', ['café'])).toBe(true);
  });
  it('filters on the key, and licences case-insensitively', () => {
    const id = { hub: 'rain', date: '2026-11-22', operator: 'lab-a' };
    expect(keyPasses(id, { since: '2026-11-22' })).toBe(true);
    expect(keyPasses(id, { since: '2026-11-23' })).toBe(false);
    expect(keyPasses(id, { hub: 'snow' })).toBe(false);
    expect(keyPasses(id, { operator: 'lab-a' })).toBe(true);
    expect(licensePasses(rain, 'cc-by-4.0')).toBe(true);
    expect(licensePasses(rain, 'CC0-1.0')).toBe(false);
    expect(licensePasses(ad('x', '2026-11-22', 'a'), undefined)).toBe(true);
  });
  it('groups per hub and operator, newest first, and ranks by score then date', () => {
    const older = { ad: ad('rain', '2026-11-20', 'lab-a'), score: 3 };
    const newer = { ad: ad('rain', '2026-11-22', 'lab-a'), score: 3 };
    const other = { ad: ad('snow', '2026-11-21', 'lab-b'), score: 4 };
    const groups = groupCandidates([older, other, newer]);
    expect(groups.map((g) => g.map((c) => c.ad.date))).toEqual([['2026-11-22', '2026-11-20'], ['2026-11-21']]);
    expect(rankResults([newer, other]).map((c) => c.ad.hub)).toEqual(['snow', 'rain']);
  });
});
