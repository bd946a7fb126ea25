import { describe, expect, it } from 'vitest';
import { advertisementSigningText, fingerprint, generateKeyPair, isPublicKey, signText, verifyText } from '../../src/core/signing.js';
import { planOperatorRecord, rotateRecord, signRecord } from '../../src/core/operator-record.js';
import { decideKey, signatureProblem } from '../../src/core/trust.js';
import type { Advertisement } from '../../src/core/advertisement.js';

const now = new Date('2026-11-22T10:00:00Z');
const k1 = generateKeyPair();
const k2 = generateKeyPair();
const k3 = generateKeyPair();
const evil = generateKeyPair();

const ad: Advertisement = {
  schema: 1,
  hub: 'weather',
  date: '2026-11-22',
  operator: 'lab-a',
  remote: 'https://h/a.git',
  branch: 'main',
  commit: 'a'.repeat(40),
  tag: 'syncer/weather/2026-11-22',
  path: 'weather',
  files: 1,
  bytes: 2,
  message: 'm',
  syncedAt: now.toISOString(),
  runId: 'r',
};
const signed = (a: Advertisement, key = k1) => ({ ...a, signature: signText(advertisementSigningText(a), key.privateKeyPem) });

describe('signatures', () => {
  it('makes ed25519 keys with ssh-like fingerprints', () => {
    expect(isPublicKey(k1.publicKey)).toBe(true);
    expect(fingerprint(k1.publicKey)).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(fingerprint(k1.publicKey)).not.toBe(fingerprint(k2.publicKey));
  });
  it('covers every field but remote and signature', () => {
    const s = signed(ad);
    expect(signatureProblem(s, k1.publicKey)).toBeUndefined();
    expect(signatureProblem({ ...s, remote: 'https://mirror/a.git' }, k1.publicKey)).toBeUndefined();
    for (const change of [{ commit: 'b'.repeat(40) }, { files: 2 }, { path: 'other' }, { message: 'x' }, { syncedAt: '2026-11-22T11:00:00.000Z' }]) {
      expect(signatureProblem({ ...s, ...change }, k1.publicKey)).toMatch(/bad signature/);
    }
    expect(signatureProblem(s, k2.publicKey)).toMatch(/bad signature/);
    expect(signatureProblem(ad, k1.publicKey)).toMatch(/not signed/);
    expect(verifyText('x', 'ed25519:garbage', k1.publicKey)).toBe(false);
  });
});

describe('operator keys: pin on first use, follow signed rotations', () => {
  const record = planOperatorRecord(undefined, k1, 'lab-a', 'https://h/a.git', now).record;
  it('a new record is signed by its key and pinned on first sight', () => {
    expect(decideKey('lab-a', record, undefined, false)).toEqual({ ok: true, publicKey: k1.publicKey, pin: 'new', retired: [] });
    expect(decideKey('lab-a', record, k1.publicKey, false)).toMatchObject({ ok: true, publicKey: k1.publicKey, pin: 'pinned' });
  });
  it('a record whose signature does not hold is refused', () => {
    expect(decideKey('lab-a', { ...record, remote: 'https://evil/x.git' }, undefined, false)).toMatchObject({ ok: false });
    expect(decideKey('lab-a', undefined, undefined, false)).toMatchObject({ ok: false, problem: expect.stringMatching(/no record/) });
  });
  it('a replaced key without a rotation signed by the pinned key is refused, unless accepted', () => {
    const hijack = signRecord(
      { operator: 'lab-a', remote: 'https://evil/x.git', publicKey: evil.publicKey, registeredAt: record.registeredAt },
      evil.privateKeyPem,
    );
    expect(decideKey('lab-a', hijack, k1.publicKey, false)).toMatchObject({ ok: false, problem: expect.stringMatching(/key of lab-a changed/) });
    expect(decideKey('lab-a', hijack, k1.publicKey, true)).toMatchObject({ ok: true, pin: 'accepted' });
    // A forged rotation signed by the new key is not enough.
    const forged = rotateRecord({ ...hijack }, evil, generateKeyPair(), now);
    expect(decideKey('lab-a', forged, k1.publicKey, false)).toMatchObject({ ok: false });
  });
  it('follows a chain of rotations from the pinned key', () => {
    const r2 = rotateRecord(record, k1, k2, now);
    const r3 = rotateRecord(r2, k2, k3, now);
    expect(decideKey('lab-a', r2, k1.publicKey, false)).toMatchObject({ ok: true, publicKey: k2.publicKey, pin: 'rotated' });
    const d3 = decideKey('lab-a', r3, k1.publicKey, false);
    expect(d3).toMatchObject({ ok: true, publicKey: k3.publicKey, pin: 'rotated' });
    // Advertisements made before a rotation stay valid; the retired key cannot sign new ones.
    const retired = d3.ok ? d3.retired : [];
    expect(retired.map((k) => k.publicKey)).toEqual([k2.publicKey, k1.publicKey]);
    // Rotations without a seal (as older syncers made them) vouch for nothing, whatever time the entry claims.
    const legacy =
      /signed by a retired key of lab-a .* whose rotation has no seal \(made by an older syncer\): refused until lab-a's next syncer sync seals it/;
    expect(signatureProblem(signed(ad, k1), k3.publicKey, retired)).toMatch(legacy);
    const backDated = { ...ad, syncedAt: '2020-01-01T00:00:00.000Z' };
    expect(signatureProblem(signed(backDated, k1), k3.publicKey, retired)).toMatch(legacy);
    const later = { ...ad, syncedAt: '2026-11-23T00:00:00.000Z' };
    expect(signatureProblem(signed(later, k3), k3.publicKey, retired)).toBeUndefined();
    expect(() => rotateRecord(r3, k1, k2, now)).toThrow(/not yours/);
  });
  it('a sealed rotation: the old key vouches for exactly the sealed hub/date and commit, whatever time it claims', async () => {
    const { sealOf } = await import('../../src/core/trust.js');
    const sealedRecord = rotateRecord(record, k1, k2, now, { sealed: { [`${ad.hub}/${ad.date}`]: sealOf(ad.commit) } });
    const d = decideKey('lab-a', sealedRecord, k1.publicKey, false);
    const retired = d.ok ? d.retired : [];
    expect(signatureProblem(signed(ad, k1), k2.publicKey, retired)).toBeUndefined();
    const backDated = { ...ad, commit: 'f'.repeat(40), syncedAt: '2020-01-01T00:00:00.000Z' };
    expect(signatureProblem(signed(backDated, k1), k2.publicKey, retired)).toMatch(/retired key .* did not advertise it/);
    const otherDate = { ...ad, date: '2026-01-01', tag: 'syncer/weather/2026-01-01', syncedAt: '2026-01-01T00:00:00.000Z' };
    expect(signatureProblem(signed(otherDate, k1), k2.publicKey, retired)).toMatch(/retired key/);
    const revoked = rotateRecord(record, k1, k2, now, { revoked: true });
    const dr = decideKey('lab-a', revoked, k1.publicKey, false);
    expect(signatureProblem(signed(ad, k1), k2.publicKey, dr.ok ? dr.retired : [])).toMatch(/revoked key/);
  });
  it('a seal kept in pages: vouches once read and checked against the digest and count signed in the record', async () => {
    const { sealOf, sealDigestOf, sealPages, sealFromPages, withSeal, retiredKeys } = await import('../../src/core/trust.js');
    const { sealRotations } = await import('../../src/core/operator-record.js');
    const seal: Record<string, string> = {};
    for (let i = 0; i < 25_000; i++)
      seal[`h${i % 7}/${String(2000 + Math.floor(i / 366)).padStart(4, '0')}-01-${String((i % 28) + 1).padStart(2, '0')}`] = sealOf(`${i}`.padStart(40, '0'));
    seal[`${ad.hub}/${ad.date}`] = sealOf(ad.commit);
    const digest = sealDigestOf(seal);
    const count = Object.keys(seal).length;
    const pages = sealPages(seal, 10_000);
    expect(pages.length).toBe(Math.ceil(count / 10_000));
    expect(sealFromPages(pages, digest, count)).toEqual({ sealed: seal });
    expect(sealFromPages([...pages].reverse(), digest, count)).toEqual({ sealed: seal }); // order does not matter
    expect(sealFromPages(pages.slice(1), digest, count)).toMatchObject({ problem: expect.stringMatching(/entries, its rotation says/) });
    const tampered = pages.map((p) => p.replace(sealOf(ad.commit), 'f'.repeat(20)));
    expect(sealFromPages(tampered, digest, count)).toMatchObject({ problem: expect.stringMatching(/do not match its digest/) });
    expect(sealFromPages(['{"x": "y"}'], digest)).toMatchObject({ problem: expect.stringMatching(/not "<hub>\/<date>"/) });

    const r = rotateRecord(record, k1, k2, now, { sealDigest: digest, sealCount: count });
    expect(JSON.stringify(r).length).toBeLessThan(2000);
    const [k] = retiredKeys('lab-a', r);
    expect(k).toMatchObject({ sealDigest: digest, sealCount: count });
    expect(signatureProblem(signed(ad, k1), k2.publicKey, [k!])).toMatch(/whose seal \(\d+ entries\) could not be read: not read/);
    expect(signatureProblem(signed(ad, k1), k2.publicKey, [withSeal(k!, sealFromPages(pages, digest, count))])).toBeUndefined();
    expect(signatureProblem(signed(ad, k1), k2.publicKey, [withSeal(k!, sealFromPages(tampered, digest, count))])).toMatch(/could not be read: .* digest/);
    // A digest changed in the record breaks the record's signature (the new key signs seals).
    const forged = { ...r, rotations: r.rotations!.map((x) => ({ ...x, sealDigest: 'e'.repeat(64) })) };
    expect(decideKey('lab-a', forged, k2.publicKey, false)).toMatchObject({ ok: false });

    // Sealing a rotation made before seals: the current key re-signs the record; sealed/revoked rotations stay.
    const legacy = rotateRecord(record, k1, k2, now);
    const resealed = sealRotations(legacy, new Map([[k1.publicKey, { sealDigest: digest, sealCount: count }]]), k2);
    expect(decideKey('lab-a', resealed, k1.publicKey, false)).toMatchObject({ ok: true, pin: 'rotated' });
    expect(resealed.rotations![0]).toMatchObject({ sealDigest: digest, sealCount: count, signature: legacy.rotations![0]!.signature });
    expect(() => sealRotations(legacy, new Map(), k1)).toThrow(/not yours/);
  });
  it("reindex resolves paged seals from the repository's seal files, checked against the digest", async () => {
    const { sealOf, sealDigestOf, canonicalSeal, retiredKeys } = await import('../../src/core/trust.js');
    const { sealDigestsOf, withRepositorySeals } = await import('../../src/commands/reindex/seals.js');
    const seal = { [`${ad.hub}/${ad.date}`]: sealOf(ad.commit) };
    const digest = sealDigestOf(seal);
    const r = rotateRecord(record, k1, k2, now, { sealDigest: digest, sealCount: 1 });
    expect(sealDigestsOf(JSON.stringify(r))).toEqual([digest]);
    expect(sealDigestsOf('not json')).toEqual([]);
    const retired = retiredKeys('lab-a', r);
    const [ok] = withRepositorySeals(retired, new Map([[digest, canonicalSeal(seal)]]));
    expect(signatureProblem(signed(ad, k1), k2.publicKey, [ok!])).toBeUndefined();
    const [missing] = withRepositorySeals(retired, new Map());
    expect(signatureProblem(signed(ad, k1), k2.publicKey, [missing!])).toMatch(/could not be read: the repository has no \.syncer\/seals\//);
    const [forged] = withRepositorySeals(retired, new Map([[digest, canonicalSeal({ ...seal, 'weather/2026-01-01': 'f'.repeat(20) })]]));
    expect(signatureProblem(signed(ad, k1), k2.publicKey, [forged!])).toMatch(/could not be read: .*entries, its rotation says 1/);
  });
  it('planning refuses a name registered with another key, and re-signs a moved remote', () => {
    expect(() => planOperatorRecord(record, k2, 'lab-a', 'https://h/a.git', now)).toThrow(/another key/);
    expect(planOperatorRecord(record, k1, 'lab-a', 'https://h/a.git', now).write).toBe(false);
    const moved = planOperatorRecord(record, k1, 'lab-a', 'https://h/b.git', new Date('2027-01-01T00:00:00Z'));
    expect(moved.write).toBe(true);
    expect(moved.record.registeredAt).toBe(record.registeredAt);
    expect(decideKey('lab-a', moved.record, k1.publicKey, false)).toMatchObject({ ok: true, pin: 'pinned' });
  });
});

describe('pin file', () => {
  it('refuses what it cannot read, migrates version 1 by namespace (earliest pin wins)', async () => {
    const { parsePins } = await import('../../src/adapters/keystore.js');
    expect(parsePins('{"version": 2, "scopes": {').ok).toBe(false);
    expect(parsePins('{"version": 1, "registries": null}').ok).toBe(false);
    expect(parsePins('[]').ok).toBe(false);
    const v1 = parsePins(
      JSON.stringify({
        version: 1,
        registries: {
          'http://a:2379|syncer/': { x: { publicKey: 'K2', pinnedAt: '2026-02-01T00:00:00.000Z' } },
          'http://a:2379,http://b:2379|syncer/': {
            x: { publicKey: 'K1', pinnedAt: '2026-01-01T00:00:00.000Z' },
            y: { publicKey: 'K3', pinnedAt: '2026-01-01T00:00:00.000Z' },
          },
          'embedded|syncer/': { z: { publicKey: 'K4', pinnedAt: '2026-01-01T00:00:00.000Z' } },
        },
      }),
    );
    expect(v1.ok && v1.pins.scopes['syncer/']).toEqual({
      x: { publicKey: 'K1', pinnedAt: '2026-01-01T00:00:00.000Z' },
      y: { publicKey: 'K3', pinnedAt: '2026-01-01T00:00:00.000Z' },
    });
    expect(v1.ok && Object.keys(v1.pins.scopes['embedded|syncer/'] ?? {})).toEqual(['z']);
  });
});

describe('dates from the future and terminal text', () => {
  it('no honest sync makes a date after tomorrow (UTC)', async () => {
    const { futureDateProblem } = await import('../../src/core/names.js');
    const now = new Date('2026-12-31T23:30:00Z');
    expect(futureDateProblem('2027-01-01', now)).toBeUndefined();
    expect(futureDateProblem('2027-01-02', now)).toMatch(/after tomorrow \(2027-01-01, UTC\)/);
    expect(futureDateProblem('2099-01-01', now)).toBeDefined();
  });
  it('escapes bidi controls', async () => {
    const { escapeControl } = await import('../../src/core/sanitize.js');
    expect(escapeControl('data\u202Etxt.exe')).toBe('data\\u202etxt.exe');
    expect(escapeControl('a\u2066b\u2069\u200f')).toBe('a\\u2066b\\u2069\\u200f');
    expect(escapeControl('plain ü text')).toBe('plain ü text');
  });
});

describe('skipped entries at scale', () => {
  it('shows the first of each kind and sums up the rest', async () => {
    const { SkipSummary, problemKind } = await import('../../src/core/skip-summary.js');
    expect(problemKind('h/2026-01-01/x', 'h/2026-01-01/x has a bad signature (not made by SHA256:abc+/= nor an earlier key of x)')).toBe(
      '<entry> has a bad signature (not made by <fingerprint> nor an earlier key of x)',
    );
    const s = new SkipSummary(false);
    expect(s.add('h/d/a', 'not valid JSON at position 12')).toBe('skipping h/d/a: not valid JSON at position 12');
    expect(s.add('h/d/b', 'not valid JSON at position 99')).toBeUndefined();
    expect(s.add('h/d/c', 'not valid JSON at position 7')).toBeUndefined();
    expect(s.add('h/d/d', 'not signed')).toBe('skipping h/d/d: not signed');
    expect(s.summary()).toEqual(['skipped 2 more entries like that (not valid JSON at position N); --verbose lists each']);
    expect(new SkipSummary(true).add('h/d/b', 'x')).toBe('skipping h/d/b: x');
  });
});

describe('trust file', () => {
  it('parses OPERATOR SHA256:<fingerprint> lines with comments; names the first bad line', async () => {
    const { parseTrustFile } = await import('../../src/core/trust-file.js');
    const fp = `SHA256:${'x'.repeat(43)}`;
    const ok = parseTrustFile(`# consortium\n\nlab-a ${fp}  # rotated 2026\nlab-a SHA256:${'y'.repeat(43)}\n`);
    expect(ok.ok && [...ok.trust.get('lab-a')!]).toEqual([fp, `SHA256:${'y'.repeat(43)}`]);
    expect(parseTrustFile(`lab-a ${fp}\nLab-B ${fp}`)).toMatchObject({ ok: false, line: 2 });
    expect(parseTrustFile(`lab-a md5:abc`)).toMatchObject({ ok: false, line: 1 });
  });
  it('decides the keys it lists, whatever was pinned', () => {
    const pair = generateKeyPair();
    const record = signRecord({ operator: 'x', remote: 'file:///r', publicKey: pair.publicKey, registeredAt: '2026-01-01T00:00:00.000Z' }, pair.privateKeyPem);
    expect(decideKey('x', record, undefined, false, new Set([fingerprint(pair.publicKey)]))).toMatchObject({ ok: true, pin: 'vouched' });
    expect(decideKey('x', record, pair.publicKey, false, new Set([fingerprint(pair.publicKey)]))).toMatchObject({ ok: true, pin: 'pinned' });
    expect(decideKey('x', record, pair.publicKey, true, new Set([`SHA256:${'z'.repeat(43)}`]))).toMatchObject({ ok: false });
  });
});
