import { describe, expect, it } from 'vitest';
import { isNewer, parseAdvertisement, serializeAdvertisement, type Advertisement } from '../../src/core/advertisement.js';
import { sampleAdvertisement, sampleId } from '../helpers/advertisement.js';

const good: Advertisement = sampleAdvertisement;
const id = sampleId;
const problem = (v: unknown) => {
  const r = parseAdvertisement(typeof v === 'string' ? v : JSON.stringify(v), { expect: id });
  return r.ok ? undefined : r.problem;
};

describe('advertisement parsing (registry data is untrusted)', () => {
  it('accepts what sync writes, and serialises stably', () => {
    expect(problem(good)).toBeUndefined();
    expect(serializeAdvertisement({ ...good })).toBe(serializeAdvertisement(JSON.parse(serializeAdvertisement(good))));
  });
  it.each([
    ['not JSON', '{nope'],
    ['too large', JSON.stringify({ ...good, message: 'x'.repeat(70_000) })],
    ['ext:: remote', { ...good, remote: 'ext::sh -c touch% /tmp/pwned' }],
    ['fd:: remote', { ...good, remote: 'fd::17' }],
    ['remote starting with -', { ...good, remote: '--upload-pack=touch /tmp/x' }],
    ['http remote', { ...good, remote: 'http://example.org/x.git' }],
    ['relative file remote', { ...good, remote: 'file://x' }],
    ['branch starting with -', { ...good, branch: '--force' }],
    ['absolute path', { ...good, path: '/etc' }],
    ['path with ..', { ...good, path: 'weather/../../x' }],
    ['wrong tag', { ...good, tag: 'syncer/other/2026-11-22' }],
    ['short commit', { ...good, commit: 'abc' }],
    ['hub disagreeing with key', { ...good, hub: 'other', tag: 'syncer/other/2026-11-22' }],
    ['operator disagreeing with key', { ...good, operator: 'lab-b' }],
    ['negative files', { ...good, files: -1 }],
    ['non-integer bytes', { ...good, bytes: 1.5 }],
    ['unknown field with a name no syncer writes', { ...good, Extra_1: 1 }],
    ['bad hub name', { ...good, hub: '../x' }],
  ])('refuses %s', (_what, value) => expect(problem(value)).toBeTypeOf('string'));

  it('allows a configured transport list', () => {
    const r = parseAdvertisement(JSON.stringify({ ...good, remote: 'git://host/x.git' }), { transports: ['https'] });
    expect(r.ok).toBe(false);
  });
  it('orders by syncedAt', () => {
    expect(isNewer({ syncedAt: '2026-11-22T10:00:01Z' }, { syncedAt: '2026-11-22T10:00:00Z' })).toBe(true);
    expect(isNewer({ syncedAt: '2026-11-22T09:00:00Z' }, { syncedAt: '2026-11-22T10:00:00Z' })).toBe(false);
  });
});
