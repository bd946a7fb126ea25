/**
 * syncer keys show|path|rotate. The private key never leaves its file; rotation moves the registry
 * record to a new key with a statement signed by the old one, so peers follow without action.
 */
import { existsSync, renameSync } from 'node:fs';
import { SyncerError, usageError } from '../../errors.js';
import { fingerprint, generateKeyPair } from '../../core/signing.js';
import { rotateRecord } from '../../core/operator-record.js';
import type { Runtime } from '../../runtime.js';

export interface KeysOptions {
  action: 'show' | 'path' | 'rotate';
}

function operatorName(rt: Runtime): string {
  const { operator } = rt.config;
  if (!operator) throw usageError('no operator configured', 'run `syncer init`, or set SYNCER_OPERATOR');
  return operator;
}

export async function run(rt: Runtime, options: KeysOptions): Promise<void> {
  const operator = operatorName(rt);
  const keystore = rt.keystore;
  const file = keystore.keyFile(operator);
  if (options.action === 'path') {
    rt.out.result({ operator, path: file, exists: existsSync(file) }, () => file);
    return;
  }
  const pair = keystore.load(operator);
  if (!pair) throw usageError(`no signing key for ${operator} at ${file}`, 'syncer init makes one (or the first syncer sync)');
  if (options.action === 'show') {
    rt.out.result({ operator, publicKey: pair.publicKey, fingerprint: fingerprint(pair.publicKey), path: file }, () => `${operator}  ${fingerprint(pair.publicKey)}\n${pair.publicKey}`);
    return;
  }

  const registry = await rt.registry({ writes: true });
  const entry = await registry.getOperatorEntry(operator);
  if (!entry?.record) throw usageError(`operator ${operator} is not registered yet: nothing to rotate`, 'run syncer sync first (or syncer init)');
  if (!(await rt.confirm(`Replace the key of ${operator} (${fingerprint(pair.publicKey)}) with a new one?`))) {
    throw new SyncerError('INTERRUPTED', 'cancelled; nothing was changed');
  }
  const next = generateKeyPair();
  const record = rotateRecord(entry.record, pair, next, rt.now());
  // Keep the new key on disk before the registry points at it: never a record whose key we lack.
  keystore.save(`${operator}.next`, next);
  if (!(await registry.putOperator(record, entry.modRevision))) {
    throw new SyncerError('REGISTRY', `the operator record of ${operator} changed meanwhile; nothing was rotated`, { hint: 'run syncer keys rotate again' });
  }
  renameSync(file, `${file}.old-${rt.now().toISOString().replace(/[:.]/g, '-')}`);
  renameSync(keystore.keyFile(`${operator}.next`), file);
  keystore.pin(rt.trustScope, operator, next.publicKey, rt.now(), 'own-key');
  rt.out.result({ operator, previous: fingerprint(pair.publicKey), fingerprint: fingerprint(next.publicKey), path: file }, () =>
    `rotated the key of ${operator}: ${fingerprint(pair.publicKey)} -> ${fingerprint(next.publicKey)}\nthe old key is kept beside the new one; the next syncer sync updates .syncer/operator.json in your repository`,
  );
}
