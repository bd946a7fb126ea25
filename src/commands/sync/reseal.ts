/**
 * What a sync does for the operator's retired keys, before it plans the operator record (see
 * commands/keys/seal.ts): a rotation made before seals existed is sealed from the operator's own
 * tags (the record re-signed and written with compare-and-swap); own tags that a revoked (or
 * otherwise no longer vouching) retired key signed are re-signed with the current key, with the
 * registry entries they back; and the seals the record names are kept in `.syncer/seals/`.
 * Nothing to do (no I/O) for an operator whose rotations are all sealed and none revoked, but the
 * seal files, looked at on disk.
 */
import type { OperatorRecord } from '../../core/advertisement.js';
import type { KeyPair } from '../../core/signing.js';
import { isSealed, retiredKeys } from '../../core/trust.js';
import type { Git } from '../../adapters/git.js';
import type { Runtime } from '../../runtime.js';
import { keepSealFiles, readOwnTags, resignOwnTags, resolveSeals, sealUnsealed } from '../keys/seal.js';

type Entry = { record?: OperatorRecord; modRevision: string; invalid?: string } | undefined;

/** The registry's operator entry after sealing what needed it (the one given when nothing changed). */
export async function resealOwnRecord(rt: Runtime, git: Git, top: string, operator: string, pair: KeyPair, entry: Entry): Promise<Entry> {
  const record = entry?.record;
  if (!record || record.publicKey !== pair.publicKey || !record.rotations?.length) return entry;
  const registry = await rt.registry({ writes: true });
  const retired = retiredKeys(operator, record);
  let current: Entry = entry;
  let sealed: Map<string, Record<string, string>> | undefined;
  if (retired.some((k) => k.revoked || !isSealed(k))) {
    const tags = await readOwnTags(git);
    const next = await sealUnsealed(rt, registry, record, pair, tags);
    if (next) {
      if (await registry.putOperator(next.record, entry.modRevision)) {
        current = await registry.getOperatorEntry(operator);
        sealed = next.sealed;
      } else {
        rt.out.warn(`the operator record of ${operator} changed meanwhile: its unsealed rotation is sealed by the next syncer sync`);
      }
    }
    const now = current?.record ?? record;
    await resignOwnTags(rt, registry, git, pair, await resolveSeals(registry, operator, retiredKeys(operator, now)), tags);
  }
  await keepSealFiles(rt, registry, git, top, current?.record ?? record, sealed);
  return current;
}
