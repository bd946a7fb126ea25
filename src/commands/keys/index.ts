/**
 * syncer keys show|path|rotate|revoke. The private key never leaves its file; rotation moves the
 * registry record to a new key with a statement signed by the old one, so peers follow without
 * action, and seals what the old key had advertised: from then on the old key vouches for exactly
 * those entries. Revocation (a compromised key) trusts nothing the old key signed, and re-signs
 * with the new key the entries this operator's own repository backs with its tags.
 */
import { existsSync, renameSync } from 'node:fs';
import { SyncerError, usageError } from '../../errors.js';
import { fingerprint, generateKeyPair, signText, advertisementSigningText, type KeyPair } from '../../core/signing.js';
import { rotateRecord } from '../../core/operator-record.js';
import { tagMessageProblem, type Advertisement, type OperatorRecord } from '../../core/advertisement.js';
import { readOwnTags, sealOfEntries, sealUnsealed, storeSeal, unsealedKeys } from './seal.js';
import { tagMessage } from '../../adapters/git-objects.js';
import type { Registry } from '../../adapters/registry.js';
import type { Runtime } from '../../runtime.js';

export interface KeysOptions {
  action: 'show' | 'path' | 'rotate' | 'revoke';
}

/** Whether this operator's repository holds the entry's tag, on its commit, with the same advertisement. */
async function backedByOwnTag(rt: Runtime, ad: Advertisement): Promise<boolean> {
  if (!rt.config.repoPath) return false;
  const { git } = rt.git(rt.config.repoPath);
  const target = await git.revParse(`refs/tags/${ad.tag}`);
  if (target !== ad.commit) return false;
  const message = await tagMessage(git, ad.tag);
  return message !== undefined && tagMessageProblem(message, ad) === undefined;
}

/** Re-sign with `next` the entries our own tags back; the rest stay untrusted (signed by the revoked key). */
async function resignOwnEntries(rt: Runtime, registry: Registry, entries: Advertisement[], next: KeyPair): Promise<{ resigned: string[]; left: string[] }> {
  const resigned: string[] = [];
  const left: string[] = [];
  for (const ad of entries) {
    const id = `${ad.hub}/${ad.date}`;
    if (!(await backedByOwnTag(rt, ad))) {
      left.push(id);
      rt.out.warn(
        `not re-signing ${id}: no tag ${ad.tag} in ${rt.config.repoPath ?? 'your repository'} backs it (it stays untrusted; sync it again if it is yours)`,
      );
      continue;
    }
    const unsigned = { ...ad };
    delete (unsigned as Partial<Advertisement>).signature;
    await registry.advertise({ ...ad, signature: signText(advertisementSigningText(unsigned), next.privateKeyPem) });
    resigned.push(id);
  }
  return { resigned, left };
}

/**
 * The record with the rotations made before seals existed sealed from this operator's repository
 * (what its tags back); left as it is, with a warning, without a repository here (the next
 * syncer sync seals them).
 */
async function sealEarlierRotations(rt: Runtime, registry: Registry, record: OperatorRecord, pair: KeyPair, entries: Advertisement[]): Promise<OperatorRecord> {
  if (unsealedKeys(record).length === 0) return record;
  const repo = rt.config.repoPath;
  if (!repo || !existsSync(repo)) {
    rt.out.warn(
      `an earlier rotation of ${record.operator} has no seal (made by an older syncer), and there is no repository here to seal it from: your next syncer sync seals it`,
    );
    return record;
  }
  return (await sealUnsealed(rt, registry, record, pair, await readOwnTags(rt.git(repo).git), entries))?.record ?? record;
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
    rt.out.result(
      { operator, publicKey: pair.publicKey, fingerprint: fingerprint(pair.publicKey), path: file },
      () => `${operator}  ${fingerprint(pair.publicKey)}\n${pair.publicKey}`,
    );
    return;
  }

  const revoke = options.action === 'revoke';
  const registry = await rt.registry({ writes: true });
  const entry = await registry.getOperatorEntry(operator);
  if (!entry?.record)
    throw usageError(`operator ${operator} is not registered yet: nothing to ${revoke ? 'revoke' : 'rotate'}`, 'run syncer sync first (or syncer init)');
  const question = revoke
    ? `Revoke the key of ${operator} (${fingerprint(pair.publicKey)}): nothing it signed stays trusted, and entries your repository's tags back are ` +
      `re-signed with a new key?`
    : `Replace the key of ${operator} (${fingerprint(pair.publicKey)}) with a new one?`;
  if (!(await rt.confirm(question))) throw new SyncerError('INTERRUPTED', 'cancelled; nothing was changed');
  const next = generateKeyPair();
  const entries = await registry.listOperatorEntries(operator);
  const current = await sealEarlierRotations(rt, registry, entry.record, pair, entries);
  // The old key's seal: every entry it signed (it was the operator's key until now), in pages.
  const seal = revoke ? { revoked: true } : await storeSeal(registry, operator, sealOfEntries(entries, pair.publicKey));
  const record = rotateRecord(current, pair, next, rt.now(), seal);
  // Keep the new key on disk before the registry points at it: never a record whose key we lack.
  keystore.save(`${operator}.next`, next);
  if (!(await registry.putOperator(record, entry.modRevision))) {
    throw new SyncerError('REGISTRY', `the operator record of ${operator} changed meanwhile; nothing was rotated`, { hint: 'run syncer keys rotate again' });
  }
  renameSync(file, `${file}.old-${rt.now().toISOString().replace(/[:.]/g, '-')}`);
  renameSync(keystore.keyFile(`${operator}.next`), file);
  keystore.pin(rt.trustScope, operator, next.publicKey, rt.now(), 'own-key');
  const outcome = revoke ? await resignOwnEntries(rt, registry, entries, next) : undefined;
  const base = { operator, previous: fingerprint(pair.publicKey), fingerprint: fingerprint(next.publicKey), path: file };
  const sealed = record.rotations!.at(-1)!.sealCount ?? 0;
  rt.out.result(revoke ? { ...base, revoked: true, ...outcome } : { ...base, sealed }, () =>
    revoke
      ? `revoked the key of ${operator}: ${fingerprint(pair.publicKey)} -> ${fingerprint(next.publicKey)}\nre-signed ${outcome!.resigned.length} ` +
        `entr${outcome!.resigned.length === 1 ? 'y' : 'ies'} your tags back; ${outcome!.left.length} left untrusted; the next syncer sync updates ` +
        `.syncer/operator.json in your repository`
      : `rotated the key of ${operator}: ${fingerprint(pair.publicKey)} -> ${fingerprint(next.publicKey)}\nthe old key now vouches only for the ` +
        `${sealed} entries it had advertised; it is kept beside the new one; the next syncer sync ` +
        `updates .syncer/operator.json in your repository`,
  );
}
