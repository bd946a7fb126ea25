/**
 * Trust decisions, pure: whose key signs an operator's advertisements, given the registry's
 * operator record and the key pinned locally (trust on first use, like ssh known_hosts), and
 * whether an advertisement's signature holds.
 */
import { createHash } from 'node:crypto';
import type { Advertisement, OperatorRecord } from './advertisement.js';
import { advertisementSigningText, canonicalJson, fingerprint, recordSigningText, rotationSigningText, verifyText } from './signing.js';

export type PinState = 'new' | 'pinned' | 'rotated' | 'accepted' | 'vouched';
/** A key the operator held before, when its rotation retired it, and what it may still vouch for. */
export interface RetiredKey {
  publicKey: string;
  retiredAt: string;
  /**
   * "<hub>/<date>" -> commit prefix it had advertised: inline in the record, or read from the seal's
   * pages (`sealDigest`) and checked against the digest. Rotations made before seals had none.
   */
  sealed?: Record<string, string>;
  /** The sha256 of a seal kept in pages, and its number of entries (under the record's signature). */
  sealDigest?: string;
  sealCount?: number;
  /** Why the pages of `sealDigest` could not be used (set by the reader that tried). */
  sealProblem?: string;
  revoked?: boolean;
}

/** A seal's canonical text (keys sorted): what its digest is taken of. */
export const canonicalSeal = (sealed: Record<string, string>) => canonicalJson(sealed);
/** The sha256 (hex) of a seal's canonical text. */
export const sealDigestOf = (sealed: Record<string, string>) => createHash('sha256').update(canonicalSeal(sealed)).digest('hex');

/** Entries a seal page holds (~45 bytes each: well under etcd's request limit). */
export const SEAL_PAGE_ENTRIES = 10_000;

/** A seal cut into pages (canonical JSON objects, in key order). */
export function sealPages(sealed: Record<string, string>, perPage = SEAL_PAGE_ENTRIES): string[] {
  const keys = Object.keys(sealed).sort();
  const pages: string[] = [];
  for (let i = 0; i < keys.length; i += perPage) pages.push(canonicalSeal(Object.fromEntries(keys.slice(i, i + perPage).map((k) => [k, sealed[k]!]))));
  return pages;
}

const SEAL_KEY = /^[a-z0-9][a-z0-9._-]{0,62}\/\d{4}-\d{2}-\d{2}$/;
const SEAL_VALUE = /^[0-9a-f]{20}$/;

/** The seal held by `pages` (or one whole seal text), if it is exactly the one of `digest` and `count`; else why not. */
export function sealFromPages(pages: readonly string[], digest: string, count?: number): { sealed: Record<string, string> } | { problem: string } {
  const sealed: Record<string, string> = Object.create(null);
  for (const page of pages) {
    let json: unknown;
    try {
      json = JSON.parse(page);
    } catch {
      return { problem: 'a page of the seal is not JSON' };
    }
    if (!json || typeof json !== 'object' || Array.isArray(json)) return { problem: 'a page of the seal is not an object' };
    for (const [k, v] of Object.entries(json)) {
      if (!SEAL_KEY.test(k) || typeof v !== 'string' || !SEAL_VALUE.test(v))
        return { problem: 'a page of the seal holds an entry that is not "<hub>/<date>": 20 hex' };
      sealed[k] = v;
    }
  }
  const n = Object.keys(sealed).length;
  if (count !== undefined && n !== count) return { problem: `the seal has ${n} entries, its rotation says ${count}` };
  if (sealDigestOf(sealed) !== digest) return { problem: `the seal's pages do not match its digest ${digest.slice(0, 12)}` };
  return { sealed: { ...sealed } };
}

/** The same key with the seal of its digest resolved (or why it could not be). */
export function withSeal(k: RetiredKey, read: { sealed: Record<string, string> } | { problem: string }): RetiredKey {
  return 'sealed' in read ? { ...k, sealed: read.sealed, sealProblem: undefined } : { ...k, sealProblem: read.problem };
}

/** The 20 hex digits a seal keeps of a commit. */
export const sealOf = (commit: string) => commit.slice(0, 20);

export type KeyDecision = { ok: true; publicKey: string; pin: PinState; retired: RetiredKey[] } | { ok: false; problem: string };

/** The operator's earlier keys, walking signed rotations back from the current key. */
export function retiredKeys(operator: string, record: OperatorRecord): RetiredKey[] {
  const out: RetiredKey[] = [];
  let key = record.publicKey;
  const rotations = [...(record.rotations ?? [])].reverse();
  for (const r of rotations) {
    if (r.to !== key || out.some((k) => k.publicKey === r.from)) continue;
    if (!verifyText(rotationSigningText({ operator, from: r.from, to: r.to, at: r.at }), r.signature, r.from)) break;
    out.push({
      publicKey: r.from,
      retiredAt: r.at,
      ...(r.sealed ? { sealed: r.sealed } : {}),
      ...(r.sealDigest ? { sealDigest: r.sealDigest, sealCount: r.sealCount } : {}),
      ...(r.revoked ? { revoked: true } : {}),
    });
    key = r.from;
  }
  return out;
}

/**
 * `vouched`: the fingerprints a trust file lists for the operator. When given, they alone decide
 * (a pin or a rotation cannot add a key the consortium did not list).
 */
export function decideKey(
  operator: string,
  record: OperatorRecord | undefined,
  pinned: string | undefined,
  acceptKey: boolean,
  vouched?: ReadonlySet<string>,
): KeyDecision {
  if (!record) return { ok: false, problem: `operator ${operator} has no record in the registry` };
  if (!record.publicKey) return { ok: false, problem: `operator ${operator} has no public key in the registry` };
  if (!verifyText(recordSigningText(record), record.signature, record.publicKey)) {
    return { ok: false, problem: `the registry record of ${operator} is not signed by its own key` };
  }
  const retired = retiredKeys(operator, record);
  if (vouched) {
    const fp = fingerprint(record.publicKey);
    if (vouched.has(fp)) return { ok: true, publicKey: record.publicKey, pin: pinned === record.publicKey ? 'pinned' : 'vouched', retired };
    return { ok: false, problem: `the key of ${operator} in the registry (${fp}) is not one the trust file lists (${[...vouched].join(', ')})` };
  }
  if (!pinned) return { ok: true, publicKey: record.publicKey, pin: 'new', retired };
  if (pinned === record.publicKey) return { ok: true, publicKey: pinned, pin: 'pinned', retired };
  // Follow rotations from the pinned key: each step must be signed by the key it replaces.
  let key = pinned;
  for (const r of record.rotations ?? []) {
    if (r.from === key && verifyText(rotationSigningText({ operator, from: r.from, to: r.to, at: r.at }), r.signature, key)) key = r.to;
  }
  if (key === record.publicKey) return { ok: true, publicKey: key, pin: 'rotated', retired };
  if (acceptKey) return { ok: true, publicKey: record.publicKey, pin: 'accepted', retired };
  return {
    ok: false,
    problem:
      `the key of ${operator} changed: pinned ${fingerprint(pinned)}, registry has ${fingerprint(record.publicKey)}, and no rotation signed by ` +
      `the pinned key leads to it`,
  };
}

/**
 * Whether a retired key still vouches for `ad`: only for the entries its rotation sealed (hub/date
 * and commit, under the new key's signature), never after a revocation, and never by the entry's
 * own claim of time (the old key's holder controls it): a rotation without a seal vouches for
 * nothing until the operator's next sync seals it.
 */
function retiredKeyVouches(k: RetiredKey, ad: Advertisement): boolean {
  if (k.revoked || !k.sealed) return false;
  return k.sealed[`${ad.hub}/${ad.date}`] === sealOf(ad.commit);
}

/** Whether the rotation that retired `k` has a seal (inline or by digest). */
export const isSealed = (k: RetiredKey) => !!k.sealed || !!k.sealDigest;

/** The retired key that made `ad`'s signature, when the current key did not. */
export function retiredSigner(ad: Advertisement, publicKey: string, retired: readonly RetiredKey[]): RetiredKey | undefined {
  if (!ad.signature || retired.length === 0) return undefined;
  const text = advertisementSigningText(ad);
  if (verifyText(text, ad.signature, publicKey)) return undefined;
  return retired.find((k) => verifyText(text, ad.signature, k.publicKey));
}

/**
 * Why the advertisement's signature does not hold, or undefined when it does: made by the current
 * key, or by a retired key that still vouches for this very entry.
 */
export function signatureProblem(ad: Advertisement, publicKey: string, retired: RetiredKey[] = []): string | undefined {
  if (!ad.signature) return `${ad.hub}/${ad.date}/${ad.operator} is not signed`;
  const text = advertisementSigningText(ad);
  if (verifyText(text, ad.signature, publicKey)) return undefined;
  const signer = retired.find((k) => verifyText(text, ad.signature, k.publicKey));
  if (signer && retiredKeyVouches(signer, ad)) return undefined;
  const id = `${ad.hub}/${ad.date}/${ad.operator}`;
  if (!signer) return `${id} has a bad signature (not made by ${fingerprint(publicKey)} nor an earlier key of ${ad.operator})`;
  const by = `${id} is signed by a retired key of ${ad.operator} (${fingerprint(signer.publicKey)})`;
  if (signer.revoked) return `${id} is signed by a revoked key of ${ad.operator} (${fingerprint(signer.publicKey)})`;
  if (!isSealed(signer)) {
    return `${by} whose rotation has no seal (made by an older syncer): refused until ${ad.operator}'s next syncer sync seals it`;
  }
  if (!signer.sealed) return `${by} whose seal (${signer.sealCount ?? '?'} entries) could not be read: ${signer.sealProblem ?? 'not read'}`;
  return `${by} that did not advertise it before its rotation`;
}
