/**
 * Forward compatibility (issue 14): readers accept fields they do not know, in an advertisement and
 * in its `meta`, and the signature covers them, so a hostile peer can neither add, change nor drop
 * one in someone else's entry; their names and nesting are bounded.
 */
import { describe, expect, it } from 'vitest';
import { parseAdvertisement, serializeAdvertisement, tagMessageProblem, type Advertisement } from '../../src/core/advertisement.js';
import { advertisementSigningText, generateKeyPair, signText, verifyText } from '../../src/core/signing.js';
import { MAX_UNKNOWN_DEPTH } from '../../src/core/meta-fields.js';
import { sampleAdvertisement, sampleId } from '../helpers/advertisement.js';

const key = generateKeyPair();
const base = sampleAdvertisement;
const id = sampleId;
const sign = (ad: Record<string, unknown>) => ({ ...ad, signature: signText(advertisementSigningText(ad), key.privateKeyPem) });
const parse = (v: unknown) => parseAdvertisement(typeof v === 'string' ? v : JSON.stringify(v), { expect: id });
const parsed = (v: unknown): Advertisement => {
  const r = parse(v);
  if (!r.ok) throw new Error(r.problem);
  return r.ad;
};
const verifies = (ad: Advertisement) => verifyText(advertisementSigningText(ad), ad.signature, key.publicKey);

describe('unknown fields (a later syncer writes them)', () => {
  const later = sign({ ...base, votes: { accepted: 2, by: ['lab-b', 'lab-c'] }, retracted: false, meta: { title: 'Rain', spatial: { bbox: [1, 2, 3, 4] } } });

  it('are accepted, kept, and verify with the signature of their writer', () => {
    const ad = parsed(later);
    expect((ad as Record<string, unknown>).votes).toEqual({ accepted: 2, by: ['lab-b', 'lab-c'] });
    expect((ad.meta as Record<string, unknown>).spatial).toEqual({ bbox: [1, 2, 3, 4] });
    expect(verifies(ad)).toBe(true);
  });

  it('survive serialisation (what reindex writes from a tag), known fields first, so the signature still holds', () => {
    const text = serializeAdvertisement(parsed(later));
    expect(Object.keys(JSON.parse(text)).slice(-2)).toEqual(['votes', 'retracted']);
    expect(verifies(parsed(text))).toBe(true);
    expect(serializeAdvertisement(parsed(text))).toBe(text);
    expect(tagMessageProblem(text, parsed(later))).toBeUndefined();
  });

  it('cannot be added, changed or dropped by anyone but the signer', () => {
    expect(verifies(parsed({ ...later, extra: 'planted' }))).toBe(false);
    expect(verifies(parsed({ ...later, votes: { accepted: 9, by: [] } }))).toBe(false);
    const { votes: _dropped, ...without } = later;
    expect(verifies(parsed(without))).toBe(false);
    expect(verifies(parsed({ ...later, meta: { title: 'Rain', spatial: { bbox: [0, 0, 0, 0] } } }))).toBe(false);
    expect(verifies(parsed({ ...later, meta: { ...later.meta, keywords: ['planted'] } }))).toBe(false);
    // A tag carrying an extra field is not the registry's advertisement.
    expect(tagMessageProblem(JSON.stringify({ ...later, extra: 1 }), parsed(later))).toMatch(/differs/);
  });

  it('never lend a reader an inherited value the signature does not cover (__proto__ is refused, at any depth)', () => {
    const signed = sign(base);
    const text = JSON.stringify(signed).replace(/^\{/, '{"__proto__":{"meta":{"title":"planted"}},');
    const r = parse(text);
    expect(r.ok).toBe(false);
    const nested = JSON.stringify(signed).replace(/^\{/, '{"later":{"x":{"__proto__":{"y":1}}},');
    expect(parse(nested).ok).toBe(false);
    expect(parse(JSON.stringify(sign({ ...base, meta: {} })).replace('"meta":{', '"meta":{"__proto__":{"title":"x"},')).ok).toBe(false);
  });

  it('keep Object member names as plain own fields, covered by the signature', () => {
    const ad = parsed(sign({ ...base, constructor: 'x', toString: { a: 1 } }));
    expect(Object.hasOwn(ad, 'constructor')).toBe(true);
    expect(verifies(ad)).toBe(true);
    expect(verifies({ ...ad, constructor: 'y' } as Advertisement)).toBe(false);
  });

  it.each([
    ['a name no syncer writes', { ...base, 'not-camel': 1 }],
    ['a name starting with upper case', { ...base, Later: 1 }],
    ['a name too long', { ...base, [`a${'b'.repeat(64)}`]: 1 }],
    ['nesting too deep', { ...base, later: JSON.parse(`${'['.repeat(MAX_UNKNOWN_DEPTH + 1)}${']'.repeat(MAX_UNKNOWN_DEPTH + 1)}`) }],
    ['too many unknown fields', { ...base, ...Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`f${i}`, i])) }],
    ['a known field of the wrong type, whatever else is there', { ...base, files: 'many', later: 1 }],
    ['meta that is not an object', { ...base, meta: 'x' }],
    ['a meta title over the read bound', { ...base, meta: { title: 'x'.repeat(1001) } }],
    ['too many keywords', { ...base, meta: { keywords: Array.from({ length: 101 }, (_, i) => `k${i}`) } }],
  ])('refuses %s', (_what, value) => {
    const r = parse(value);
    expect(r.ok).toBe(false);
  });

  it('a hostile nesting the size of the value limit is refused without exhausting the stack', () => {
    const deep = JSON.stringify({ ...base }).replace(/\}$/, `,"later":${'['.repeat(30_000)}${']'.repeat(30_000)}}`);
    const r = parse(deep);
    expect(r.ok).toBe(false);
  });

  it('names the unknown field that is refused', () => {
    const r = parse({ ...base, later: { a: { b: { c: { d: { e: { f: { g: { h: { i: 1 } } } } } } } } } });
    expect(r.ok ? '' : r.problem).toMatch(/^field later: nested more than 8 deep/);
  });
});
