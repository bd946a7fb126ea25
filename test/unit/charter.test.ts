import { describe, expect, it } from 'vitest';
import {
  charterHash,
  draftCharter,
  fieldsProblem,
  mayPublish,
  parseCharter,
  resolveCharter,
  signCharter,
  type CharterDoc,
  type CharterFields,
} from '../../src/core/charter.js';
import { generateKeyPair } from '../../src/core/signing.js';
import { hubKeys, parseCharterKey, parseVoteKey } from '../../src/core/keys.js';

const now = new Date('2026-11-22T10:00:00Z');
const keys = { 'lab-a': generateKeyPair(), 'lab-b': generateKeyPair(), 'lab-c': generateKeyPair(), 'lab-d': generateKeyPair() };
type Op = keyof typeof keys;
const keysOf = (op: string) => (op in keys ? [keys[op as Op].publicKey] : []);
const fields: CharterFields = { maintainers: ['lab-a', 'lab-b', 'lab-c'], threshold: 2, validators: [], publishers: 'open' };

function doc(raw: Record<string, unknown>): CharterDoc {
  const parsed = parseCharter(JSON.stringify(raw));
  if (!parsed.ok) throw new Error(parsed.problem);
  return parsed.doc;
}
const sign = (raw: Record<string, unknown>, ...ops: Op[]) => ops.reduce((r, op) => signCharter(r, op, keys[op].privateKeyPem), raw);
const v1 = doc(sign(draftCharter('weather', fields, undefined, 'lab-a', now), 'lab-a'));
const change: CharterFields = { ...fields, validators: ['lab-d'], publishers: 'listed', publisherList: ['lab-a'] };

describe('charter chain', () => {
  it('version 1 takes effect with one of its maintainers', () => {
    expect(resolveCharter([v1], keysOf)).toEqual({ current: v1, problems: [] });
    const byOutsider = doc(sign(draftCharter('weather', fields, undefined, 'lab-d', now), 'lab-d'));
    const r = resolveCharter([byOutsider], keysOf);
    expect(r.current).toBeUndefined();
    expect(r.problems[0]).toMatch(/version 1 is signed by 0 of the 1 its own maintainers/);
  });

  it('a change takes effect with threshold signatures of the current maintainers', () => {
    const draft = draftCharter('weather', change, v1, 'lab-a', now);
    expect(draft.previous).toBe(charterHash(v1.raw));
    const one = doc(sign(draft, 'lab-a'));
    expect(resolveCharter([v1, one], keysOf).current).toBe(v1);
    expect(resolveCharter([v1, one], keysOf).problems[0]).toMatch(/version 2 is signed by 1 of the 2 maintainers of version 1/);
    const two = doc(sign(draft, 'lab-a', 'lab-c'));
    expect(resolveCharter([two, v1], keysOf)).toEqual({ current: two, problems: [] });
  });

  it('signatures of others, forged ones and altered documents do not count', () => {
    const draft = draftCharter('weather', change, v1, 'lab-a', now);
    const outsider = doc(sign(draft, 'lab-a', 'lab-d'));
    expect(resolveCharter([v1, outsider], keysOf).current).toBe(v1);
    const forged = doc({ ...sign(draft, 'lab-a'), signatures: { 'lab-a': 'x', 'lab-b': sign(draft, 'lab-d').signatures['lab-d'] } } as never);
    expect(resolveCharter([v1, forged], keysOf).current).toBe(v1);
    const signed = sign(draft, 'lab-a', 'lab-b');
    const altered = doc({ ...signed, publisherList: ['lab-d'] });
    expect(resolveCharter([v1, altered], keysOf).current).toBe(v1);
  });

  it('a version must name the one it replaces, and the chain stops at the first refused one', () => {
    const wrongPrev = doc(sign({ ...draftCharter('weather', change, v1, 'lab-a', now), previous: `sha256:${'0'.repeat(64)}` }, 'lab-a', 'lab-b'));
    expect(resolveCharter([v1, wrongPrev], keysOf).problems[0]).toMatch(/does not name version 1/);
    const v2 = doc(sign(draftCharter('weather', change, v1, 'lab-a', now), 'lab-a', 'lab-b'));
    // version 2's maintainers are the same three, threshold 2: a version 3 signed by one of them is refused
    const v3 = doc(sign(draftCharter('weather', fields, v2, 'lab-a', now), 'lab-a'));
    const v4 = doc(sign(draftCharter('weather', change, v3, 'lab-a', now), 'lab-a', 'lab-b'));
    const r = resolveCharter([v1, v2, v3, v4], keysOf);
    expect(r.current).toBe(v2);
    expect(r.problems).toEqual([expect.stringMatching(/version 3 is signed by 1 of the 2/), 'later versions are not read']);
    const gap = resolveCharter([v1, v3], keysOf);
    expect(gap.current).toBe(v1);
  });

  it('parses strictly what it reads and keeps unknown fields under the signature', () => {
    expect(parseCharter('{').ok).toBe(false);
    expect(parseCharter(JSON.stringify({ ...v1.raw, threshold: 4 }))).toMatchObject({ ok: false, problem: /threshold is more than the maintainers/ });
    expect(parseCharter(JSON.stringify({ ...v1.raw, maintainers: ['lab-a', 'lab-a'] }))).toMatchObject({ ok: false });
    expect(parseCharter(JSON.stringify({ ...v1.raw, publishers: 'listed' }))).toMatchObject({ ok: false, problem: /publisherList/ });
    expect(parseCharter(JSON.stringify(v1.raw), { hub: 'other' })).toMatchObject({ ok: false, problem: /disagrees with its key/ });
    const later = doc(sign({ ...draftCharter('weather', fields, undefined, 'lab-a', now), future: { x: 1 } }, 'lab-a'));
    expect(resolveCharter([later], keysOf).current).toBe(later);
    expect(resolveCharter([doc({ ...later.raw, future: { x: 2 } })], keysOf).current).toBeUndefined();
  });

  it('checks the fields a user gives, and who may publish', () => {
    expect(fieldsProblem(fields)).toBeUndefined();
    expect(fieldsProblem({ ...fields, threshold: 4 })).toMatch(/--threshold must be from 1 to the number of maintainers \(3\), not 4/);
    expect(fieldsProblem({ ...fields, maintainers: [] })).toMatch(/at least one --maintainer/);
    expect(fieldsProblem({ ...fields, validatorThreshold: 1 })).toMatch(/needs --validator/);
    expect(fieldsProblem({ ...fields, validators: ['x'], validatorThreshold: 2 })).toMatch(/--validator-threshold/);
    expect(fieldsProblem({ ...fields, publishers: 'listed' })).toMatch(/needs at least one --publisher/);
    expect(fieldsProblem({ ...fields, maintainers: ['a', 'a'], threshold: 1 })).toMatch(/--maintainer a is given twice/);
    const listed = doc(sign(draftCharter('weather', change, undefined, 'lab-a', now), 'lab-a')).charter;
    expect(mayPublish(listed, 'lab-a')).toBe(true);
    expect(mayPublish(listed, 'lab-b')).toBe(false);
    expect(mayPublish(v1.charter, 'anyone')).toBe(true);
  });
});

describe('charter and vote keys', () => {
  it('are laid out under the namespace, readable with etcdctl, and parsed back strictly', () => {
    const k = hubKeys('syncer');
    expect(k.charter('weather', 12)).toBe('syncer/hubs/weather/charter/00000012');
    expect(k.proposal('weather')).toBe('syncer/hubs/weather/proposal');
    expect(k.vote({ hub: 'weather', date: '2026-11-22', operator: 'lab-a' }, 'lab-v')).toBe('syncer/votes/weather/2026-11-22/lab-a/lab-v');
    expect(k.votesUnder('weather', '2026-11-22')).toBe('syncer/votes/weather/2026-11-22/');
    expect(parseCharterKey('syncer/', 'weather', 'syncer/hubs/weather/charter/00000012')).toBe(12);
    expect(parseCharterKey('syncer/', 'weather', 'syncer/hubs/weather/charter/12')).toBeUndefined();
    expect(parseCharterKey('syncer/', 'weather', 'syncer/hubs/weather/charter/00000000')).toBeUndefined();
    expect(parseVoteKey('syncer/', 'syncer/votes/weather/2026-11-22/lab-a/lab-v')).toEqual({
      hub: 'weather',
      date: '2026-11-22',
      operator: 'lab-a',
      voter: 'lab-v',
    });
    expect(parseVoteKey('syncer/', 'syncer/votes/weather/2026-11-22/lab-a/Lab-V')).toBeUndefined();
    expect(parseVoteKey('syncer/', 'syncer/votes/weather/2026-11-22/lab-a')).toBeUndefined();
  });
});
