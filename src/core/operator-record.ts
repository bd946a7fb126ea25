/**
 * The operator record: who an operator is (name, remote, public key), signed by its current key.
 * Pure planning of what to write; the callers do the compare-and-swap.
 */
import { verifyError } from '../errors.js';
import type { OperatorRecord } from './advertisement.js';
import { fingerprint, recordSigningText, rotationSigningText, signText, verifyText, type KeyPair } from './signing.js';

export function signRecord(record: Omit<OperatorRecord, 'signature'>, privateKeyPem: string): OperatorRecord {
  const unsigned = { ...record };
  delete (unsigned as OperatorRecord).signature;
  return { ...unsigned, signature: signText(recordSigningText(unsigned), privateKeyPem) };
}

export interface RecordPlan {
  record: OperatorRecord;
  /** Whether the registry needs this record written (compare-and-swap against what was read). */
  write: boolean;
}

/**
 * The record this operator should have, given what the registry holds. Refuses (exit 5) when the
 * registry holds another key for the name: the name is taken, or this machine lacks the key.
 */
export function planOperatorRecord(current: OperatorRecord | undefined, pair: KeyPair, operator: string, remote: string, now: Date): RecordPlan {
  if (current?.publicKey && current.publicKey !== pair.publicKey) {
    throw verifyError(
      `the registry holds another key for operator ${operator} (${fingerprint(current.publicKey)}; yours is ${fingerprint(pair.publicKey)})`,
      'if that is you on another machine, copy your key file from there (syncer keys path) or rotate there; otherwise pick another operator name',
    );
  }
  const valid = !!current?.publicKey && verifyText(recordSigningText(current), current.signature, current.publicKey);
  if (current && valid && current.remote === remote) return { record: current, write: false };
  const base = { operator, remote, publicKey: pair.publicKey, registeredAt: current?.registeredAt ?? now.toISOString(), rotations: current?.rotations };
  if (!base.rotations) delete base.rotations;
  return { record: signRecord(base, pair.privateKeyPem), write: true };
}

/**
 * The record after rotating from `old` to `next`: the rotation statement is signed by the old key;
 * `sealed` (what the old key advertised, hub/date -> commit) and `revoked` are covered by the new
 * key's signature of the whole record.
 */
export function rotateRecord(
  current: OperatorRecord,
  old: KeyPair,
  next: KeyPair,
  now: Date,
  seal: { sealed?: Record<string, string>; sealDigest?: string; sealCount?: number; revoked?: boolean } = {},
): OperatorRecord {
  if (current.publicKey !== old.publicKey) {
    throw verifyError(
      `the registry's key for ${current.operator} (${current.publicKey ? fingerprint(current.publicKey) : 'none'}) is not yours ` +
        `(${fingerprint(old.publicKey)}): cannot rotate it`,
    );
  }
  const at = now.toISOString();
  const statement = { operator: current.operator, from: old.publicKey, to: next.publicKey, at };
  const rotation = {
    from: old.publicKey,
    to: next.publicKey,
    at,
    signature: signText(rotationSigningText(statement), old.privateKeyPem),
    ...(seal.sealed ? { sealed: seal.sealed } : {}),
    ...(seal.sealDigest ? { sealDigest: seal.sealDigest, sealCount: seal.sealCount ?? 0 } : {}),
    ...(seal.revoked ? { revoked: true as const } : {}),
  };
  const rotations = [...(current.rotations ?? []), rotation].slice(-64);
  return signRecord(
    { operator: current.operator, remote: current.remote, publicKey: next.publicKey, registeredAt: current.registeredAt, rotations },
    next.privateKeyPem,
  );
}

/**
 * The record with seals given to rotations that had none (`seals`: retired public key -> the seal's
 * digest and count), re-signed by the current key `pair` (whose signature covers seals). Rotations
 * already sealed or revoked are left as they are.
 */
export function sealRotations(current: OperatorRecord, seals: ReadonlyMap<string, { sealDigest: string; sealCount: number }>, pair: KeyPair): OperatorRecord {
  if (current.publicKey !== pair.publicKey) throw verifyError(`the registry's key for ${current.operator} is not yours: cannot seal its rotations`);
  const rotations = (current.rotations ?? []).map((r) => {
    const seal = seals.get(r.from);
    return seal && !r.sealed && !r.sealDigest && !r.revoked ? { ...r, ...seal } : r;
  });
  const unsigned = { ...current, rotations };
  delete (unsigned as Partial<OperatorRecord>).signature;
  return signRecord(unsigned, pair.privateKeyPem);
}
