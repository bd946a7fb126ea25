/**
 * Ed25519 signatures over canonical JSON. Pure computation (node:crypto), no I/O.
 *
 * - Keys travel as `ed25519:<base64 of the 32-byte public key>`; fingerprints as
 *   `SHA256:<base64>` of those 32 bytes (like ssh).
 * - An advertisement is signed over every field except `remote` (a mirror may serve the same
 *   commit) and `signature`; an operator record over every field except `signature`.
 */
import { createHash, createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify, type KeyObject } from 'node:crypto';

const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const KEY_RE = /^ed25519:([A-Za-z0-9+/]{43}=)$/;
const SIG_RE = /^ed25519:([A-Za-z0-9+/]{86}==)$/;

export interface KeyPair {
  privateKeyPem: string;
  publicKey: string;
}

export function generateKeyPair(): KeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(), publicKey: encodePublicKey(publicKey) };
}

function encodePublicKey(key: KeyObject): string {
  const der = key.export({ format: 'der', type: 'spki' });
  return `ed25519:${der.subarray(der.length - 32).toString('base64')}`;
}

export function isPublicKey(value: string): boolean {
  return KEY_RE.test(value);
}

export function publicKeyOf(privateKeyPem: string): string {
  return encodePublicKey(createPublicKey(createPrivateKey(privateKeyPem)));
}

/** Parsed keys: a listing verifies thousands of entries by a handful of operators (parsing is half the cost). */
const parsedKeys = new Map<string, KeyObject>();

function decodePublicKey(publicKey: string): KeyObject {
  const cached = parsedKeys.get(publicKey);
  if (cached) return cached;
  const m = KEY_RE.exec(publicKey);
  if (!m) throw new Error('not an ed25519 public key');
  const key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, Buffer.from(m[1]!, 'base64')]), format: 'der', type: 'spki' });
  if (parsedKeys.size >= 1024) parsedKeys.clear();
  parsedKeys.set(publicKey, key);
  return key;
}

export function fingerprint(publicKey: string): string {
  const m = KEY_RE.exec(publicKey);
  const raw = m ? Buffer.from(m[1]!, 'base64') : Buffer.from(publicKey);
  return `SHA256:${createHash('sha256').update(raw).digest('base64').replace(/=+$/, '')}`;
}

/** JSON with keys sorted at every level and the named top-level fields left out. */
export function canonicalJson(value: Record<string, unknown>, omit: readonly string[] = []): string {
  const sortDeep = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(sortDeep);
    if (v && typeof v === 'object') {
      return Object.fromEntries(
        Object.keys(v as object)
          .sort()
          .map((k) => [k, sortDeep((v as Record<string, unknown>)[k])]),
      );
    }
    return v;
  };
  const top = Object.fromEntries(Object.entries(value).filter(([k, v]) => !omit.includes(k) && v !== undefined));
  return JSON.stringify(sortDeep(top));
}

export function signText(text: string, privateKeyPem: string): string {
  return `ed25519:${sign(null, Buffer.from(text), createPrivateKey(privateKeyPem)).toString('base64')}`;
}

export function verifyText(text: string, signature: string | undefined, publicKey: string): boolean {
  const m = signature ? SIG_RE.exec(signature) : null;
  if (!m) return false;
  try {
    return verify(null, Buffer.from(text), decodePublicKey(publicKey), Buffer.from(m[1]!, 'base64'));
  } catch {
    return false;
  }
}

/** What an advertisement's signature covers (every field but remote and signature: docs/how-it-works.md). */
export const advertisementSigningText = (ad: Record<string, unknown>) => canonicalJson(ad, ['remote', 'signature']);
/** What an operator record's signature covers. */
export const recordSigningText = (record: Record<string, unknown>) => canonicalJson(record, ['signature']);
/** The statement a key rotation is signed with (by the old key). */
export const rotationSigningText = (r: { operator: string; from: string; to: string; at: string }) =>
  canonicalJson({ operator: r.operator, from: r.from, to: r.to, at: r.at, kind: 'syncer-key-rotation' });
