/**
 * Trust decisions, pure: whose key signs an operator's advertisements, given the registry's
 * operator record and the key pinned locally (trust on first use, like ssh known_hosts), and
 * whether an advertisement's signature holds.
 */
import type { Advertisement, OperatorRecord } from './advertisement.js';
import { advertisementSigningText, fingerprint, recordSigningText, rotationSigningText, verifyText } from './signing.js';

export type PinState = 'new' | 'pinned' | 'rotated' | 'accepted' | 'vouched';
/** A key the operator held before, when its rotation retired it, and what it may still vouch for. */
export interface RetiredKey {
  publicKey: string;
  retiredAt: string;
  /** "<hub>/<date>" -> commit prefix it had advertised (rotations made before seals had none). */
  sealed?: Record<string, string>;
  revoked?: boolean;
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
    out.push({ publicKey: r.from, retiredAt: r.at, ...(r.sealed ? { sealed: r.sealed } : {}), ...(r.revoked ? { revoked: true } : {}) });
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
 * and commit, under the new key's signature), never after a revocation. Rotations from before
 * seals existed fall back to the entry's own claim of time, which the old key's holder controls.
 */
function retiredKeyVouches(k: RetiredKey, ad: Advertisement): boolean {
  if (k.revoked) return false;
  if (k.sealed) return k.sealed[`${ad.hub}/${ad.date}`] === sealOf(ad.commit);
  return Date.parse(ad.syncedAt) <= Date.parse(k.retiredAt);
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
  if (signer?.revoked) return `${ad.hub}/${ad.date}/${ad.operator} is signed by a revoked key of ${ad.operator} (${fingerprint(signer.publicKey)})`;
  if (signer)
    return (
      `${ad.hub}/${ad.date}/${ad.operator} is signed by a retired key of ${ad.operator} (${fingerprint(signer.publicKey)}) that did not ` +
      `advertise it before its rotation`
    );
  return `${ad.hub}/${ad.date}/${ad.operator} has a bad signature (not made by ${fingerprint(publicKey)} nor an earlier key of ${ad.operator})`;
}
