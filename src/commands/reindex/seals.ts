/**
 * Seals of retired keys in reindex: read from the repository (`.syncer/seals/<digest>.json`, at the
 * commit the record was read from), checked against the digests the record's rotations name,
 * used to verify the tags a retired key signed, and their pages written to the registry beside the
 * record (only those the registry lacks).
 */
import { sealFromPages, sealPages, type RetiredKey } from '../../core/trust.js';
import type { Registry } from '../../adapters/registry.js';

export { sealFile } from '../keys/seal.js';

/** The seal digests the rotations of a record text name (none when it does not parse). */
export function sealDigestsOf(text: string): string[] {
  try {
    const json = JSON.parse(text) as { rotations?: { sealDigest?: unknown }[] };
    const digests = (Array.isArray(json.rotations) ? json.rotations : []).map((r) => r?.sealDigest);
    return [...new Set(digests.filter((d): d is string => typeof d === 'string' && /^[0-9a-f]{64}$/.test(d)))];
  } catch {
    return [];
  }
}

/** Each retired key with its seal resolved from the repository's seal files, where it has them. */
export function withRepositorySeals(retired: RetiredKey[], seals: ReadonlyMap<string, string> | undefined): RetiredKey[] {
  return retired.map((k) => {
    if (!k.sealDigest || k.sealed) return k;
    const text = seals?.get(k.sealDigest);
    if (text === undefined) return { ...k, sealProblem: `the repository has no .syncer/seals/${k.sealDigest}.json` };
    const read = sealFromPages([text], k.sealDigest, k.sealCount);
    return 'sealed' in read ? { ...k, sealed: read.sealed } : { ...k, sealProblem: `.syncer/seals/${k.sealDigest}.json: ${read.problem}` };
  });
}

/** Write the pages of every resolved seal (by digest) whose pages the registry lacks or holds broken; how many seals were written. */
export async function writeMissingSeals(registry: Registry, operator: string, retired: readonly RetiredKey[]): Promise<number> {
  let written = 0;
  for (const k of retired) {
    if (!k.sealDigest || !k.sealed) continue;
    const held = sealFromPages(await registry.readSealPages(operator, k.sealDigest), k.sealDigest, k.sealCount);
    if ('sealed' in held) continue;
    await registry.putSealPages(operator, k.sealDigest, sealPages(k.sealed));
    written++;
  }
  return written;
}
