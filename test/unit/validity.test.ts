import { describe, expect, it } from 'vitest';
import { parseVote, signVote, validityOf, validityText, voteSigningText, type Vote } from '../../src/core/validity.js';
import { generateKeyPair, verifyText } from '../../src/core/signing.js';

const key = generateKeyPair();
const ad = { hub: 'weather', date: '2026-11-22', operator: 'lab-a', commit: 'a'.repeat(40) };
let t = 0;
const vote = (voter: string, verdict: 'valid' | 'invalid', commit = ad.commit): Vote =>
  signVote({ ...ad, commit, voter, verdict, votedAt: new Date(Date.UTC(2026, 10, 22, 10, 0, t++)).toISOString() }, key.privateKeyPem);
const charter = (validators: string[], validatorThreshold?: number) => ({ validators, validatorThreshold });

describe('validity', () => {
  it('a hub without a charter or without validators is unreviewed', () => {
    expect(validityOf(undefined, ad, [vote('v1', 'valid')])).toEqual({ state: 'unreviewed', valid: 0, invalid: 0, threshold: 0 });
    expect(validityOf(charter([]), ad, [vote('v1', 'valid')]).state).toBe('unreviewed');
  });

  it('accepted when the threshold of validators said valid (default: all), pending before', () => {
    const c = charter(['v1', 'v2']);
    expect(validityOf(c, ad, [])).toEqual({ state: 'pending', valid: 0, invalid: 0, threshold: 2 });
    expect(validityOf(c, ad, [vote('v1', 'valid')])).toEqual({ state: 'pending', valid: 1, invalid: 0, threshold: 2 });
    expect(validityOf(c, ad, [vote('v1', 'valid'), vote('v2', 'valid')])).toEqual({ state: 'accepted', valid: 2, invalid: 0, threshold: 2 });
    expect(validityOf(charter(['v1', 'v2'], 1), ad, [vote('v2', 'valid')]).state).toBe('accepted');
  });

  it('rejection wins when both reach the threshold', () => {
    const c = charter(['v1', 'v2', 'v3'], 1);
    expect(validityOf(c, ad, [vote('v1', 'valid'), vote('v2', 'invalid')])).toEqual({ state: 'rejected', valid: 1, invalid: 1, threshold: 1 });
  });

  it("each validator's latest vote counts; non-validators and votes for another commit do not", () => {
    const c = charter(['v1', 'v2'], 2);
    const changedMind = [vote('v1', 'invalid'), vote('v1', 'valid'), vote('v2', 'valid')];
    expect(validityOf(c, ad, changedMind).state).toBe('accepted');
    expect(validityOf(c, ad, [...changedMind.slice(1), vote('v1', 'invalid')]).state).toBe('pending');
    expect(validityOf(c, ad, [vote('v1', 'valid'), vote('outsider', 'valid'), vote('other', 'valid')])).toMatchObject({ state: 'pending', valid: 1 });
    expect(validityOf(c, ad, [vote('v1', 'valid', 'b'.repeat(40)), vote('v2', 'valid')])).toMatchObject({ state: 'pending', valid: 1 });
    expect(validityOf(c, { ...ad, operator: 'lab-b' }, [vote('v1', 'valid'), vote('v2', 'valid')]).state).toBe('pending');
  });

  it('votes are signed over every field but the signature, and parsed against their key', () => {
    const v = vote('v1', 'invalid');
    expect(verifyText(voteSigningText(v as unknown as Record<string, unknown>), v.signature, key.publicKey)).toBe(true);
    expect(verifyText(voteSigningText({ ...v, verdict: 'valid' }), v.signature, key.publicKey)).toBe(false);
    expect(parseVote(JSON.stringify(v), { ...ad, voter: 'v1' }).ok).toBe(true);
    expect(parseVote(JSON.stringify(v), { ...ad, voter: 'v2' })).toMatchObject({ ok: false, problem: /voter "v1" disagrees with its key/ });
    expect(parseVote(JSON.stringify({ ...v, verdict: 'maybe' }))).toMatchObject({ ok: false });
    expect(validityText({ state: 'pending', valid: 1, invalid: 0, threshold: 2 })).toBe('pending (1/2 valid)');
  });
});
