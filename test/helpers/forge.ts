/** Helpers for attack tests: advertisements signed (or not) with a chosen key. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { advertisementSigningText, generateKeyPair, signText, type KeyPair } from '../../src/core/signing.js';
import { publicKeyOf } from '../../src/core/signing.js';
import type { Operator } from './world.js';

export function operatorKey(op: Operator): KeyPair {
  const privateKeyPem = readFileSync(join(op.home, '.config', 'syncer', 'keys', `${op.name}.ed25519.pem`), 'utf8');
  return { privateKeyPem, publicKey: publicKeyOf(privateKeyPem) };
}

export function signAd<T extends Record<string, unknown>>(ad: T, key: KeyPair): T & { signature: string } {
  const unsigned = { ...ad };
  delete (unsigned as Record<string, unknown>).signature;
  return { ...unsigned, signature: signText(advertisementSigningText(unsigned), key.privateKeyPem) };
}

export const freshKey = () => generateKeyPair();
