/**
 * Seals of retired keys, kept by the operator: what `keys rotate` and the next `syncer sync` do so
 * that a retired key vouches for exactly what it advertised before its rotation, and nothing a
 * revoked key signed stays in use where the operator's own tags back it.
 *
 * - A seal ("<hub>/<date>" -> 20 hex of the commit) is stored in pages under
 *   `<ns>seals/<operator>/<digest>/` (core/keys.ts); the rotation in the record carries only its
 *   sha256 and count, under the current key's signature. The repository keeps it too
 *   (`.syncer/seals/<digest>.json`), so `reindex` restores record and pages together.
 * - A rotation made before seals existed is sealed from the operator's own repository: the
 *   registry's entries signed by that retired key AND backed by the operator's own tag (same
 *   commit, same advertisement in the tag message).
 * - An own tag whose advertisement is signed by a retired key that no longer vouches for it (a
 *   revoked key, or one whose seal does not hold it) is re-signed with the current key: the tag
 *   (pushed), and the registry's entry when it is that same advertisement.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { hasKind } from '../../errors.js';
import { parseAdvertisement, serializeAdvertisement, tagMessageProblem, type Advertisement, type OperatorRecord } from '../../core/advertisement.js';
import { tagName } from '../../core/keys.js';
import { sealRotations } from '../../core/operator-record.js';
import { advertisementSigningText, fingerprint, signText, verifyText, type KeyPair } from '../../core/signing.js';
import {
  canonicalSeal,
  isSealed,
  retiredKeys,
  retiredSigner,
  sealDigestOf,
  sealFromPages,
  sealOf,
  sealPages,
  signatureProblem,
  withSeal,
  type RetiredKey,
} from '../../core/trust.js';
import { makeDirs } from '../../adapters/dirs.js';
import type { Git } from '../../adapters/git.js';
import { readTags, refTargets } from '../../adapters/git-objects.js';
import { annotatedTag, commitPaths, setRef } from '../../adapters/git-history.js';
import { pushRefs } from '../../adapters/git-remote.js';
import type { Registry } from '../../adapters/registry.js';
import type { Runtime } from '../../runtime.js';

/** Where the repository keeps a seal. */
export const sealFile = (digest: string) => `.syncer/seals/${digest}.json`;

/** One `syncer/<hub>/<date>` tag of the operator's own repository. */
export interface OwnTag {
  ref: string;
  /** The commit the tag points at. */
  target?: string;
  message: string;
  /** The advertisement in its message, when it parses and names this tag. */
  ad?: Advertisement;
}

const ANY_TRANSPORT = ['https', 'http', 'ssh', 'git', 'file'];

/** Every `syncer/*` tag of the repository, by "<hub>/<date>" (one git process). */
export async function readOwnTags(git: Git): Promise<Map<string, OwnTag>> {
  const out = new Map<string, OwnTag>();
  for (const [ref, t] of await readTags(git, ['refs/tags/syncer/'])) {
    const parsed = parseAdvertisement(t.message.trim(), { transports: ANY_TRANSPORT });
    const ad = parsed.ok && `refs/tags/${tagName(parsed.ad.hub, parsed.ad.date)}` === ref ? parsed.ad : undefined;
    const id = ref.slice('refs/tags/syncer/'.length);
    out.set(id, { ref, target: t.target, message: t.message, ...(ad ? { ad } : {}) });
  }
  return out;
}

/** Whether the operator's own tag of `ad` points at its commit and carries the same advertisement. */
export function backedBy(tags: ReadonlyMap<string, OwnTag>, ad: Advertisement): boolean {
  const tag = tags.get(`${ad.hub}/${ad.date}`);
  return !!tag && tag.target === ad.commit && tagMessageProblem(tag.message, ad) === undefined;
}

/** Store a seal's pages in the registry; what the rotation carries of it. */
export async function storeSeal(registry: Registry, operator: string, sealed: Record<string, string>): Promise<{ sealDigest: string; sealCount: number }> {
  const sealDigest = sealDigestOf(sealed);
  await registry.putSealPages(operator, sealDigest, sealPages(sealed));
  return { sealDigest, sealCount: Object.keys(sealed).length };
}

/** Each retired key with its seal's pages read and checked against its digest (where it has one). */
export async function resolveSeals(registry: Registry, operator: string, retired: RetiredKey[]): Promise<RetiredKey[]> {
  return Promise.all(
    retired.map(async (k) =>
      k.sealDigest && !k.sealed ? withSeal(k, sealFromPages(await registry.readSealPages(operator, k.sealDigest), k.sealDigest, k.sealCount)) : k,
    ),
  );
}

/** hub/date -> commit prefix of each entry `key` signed that the operator's own tags back (all of them when `tags` is undefined). */
export function sealOfEntries(entries: readonly Advertisement[], publicKey: string, tags?: ReadonlyMap<string, OwnTag>): Record<string, string> {
  const sealed: Record<string, string> = {};
  for (const ad of entries) {
    if (!ad.signature || !verifyText(advertisementSigningText(ad), ad.signature, publicKey)) continue;
    if (tags && !backedBy(tags, ad)) continue;
    sealed[`${ad.hub}/${ad.date}`] = sealOf(ad.commit);
  }
  return sealed;
}

/** Rotations of `record` made before seals existed (neither sealed nor revoked). */
export const unsealedKeys = (record: OperatorRecord) => retiredKeys(record.operator, record).filter((k) => !k.revoked && !isSealed(k));

/**
 * The record with every unsealed rotation sealed from the operator's own repository (`tags`), its
 * seals' pages written, re-signed by `pair`; undefined when there was nothing to seal. `entries`:
 * the operator's registry entries (read when not given).
 */
export async function sealUnsealed(
  rt: Runtime,
  registry: Registry,
  record: OperatorRecord,
  pair: KeyPair,
  tags: ReadonlyMap<string, OwnTag>,
  entries?: readonly Advertisement[],
): Promise<{ record: OperatorRecord; sealed: Map<string, Record<string, string>> } | undefined> {
  const unsealed = unsealedKeys(record);
  if (unsealed.length === 0) return undefined;
  const all = entries ?? (await registry.listOperatorEntries(record.operator));
  const seals = new Map<string, { sealDigest: string; sealCount: number }>();
  const sealed = new Map<string, Record<string, string>>();
  for (const k of unsealed) {
    const seal = sealOfEntries(all, k.publicKey, tags);
    seals.set(k.publicKey, await storeSeal(registry, record.operator, seal));
    sealed.set(k.publicKey, seal);
    rt.out.info(
      `sealed the rotation of ${fingerprint(k.publicKey)} (made by an older syncer, without a seal): it vouches for the ${Object.keys(seal).length} ` +
        `entries it signed that your tags back`,
    );
  }
  return { record: sealRotations(record, seals, pair), sealed };
}

/** A copy of `ad` signed by `pair`. */
function resigned(ad: Advertisement, pair: KeyPair): Advertisement {
  const unsigned = { ...ad };
  delete (unsigned as Partial<Advertisement>).signature;
  return { ...unsigned, signature: signText(advertisementSigningText(unsigned), pair.privateKeyPem) };
}

/** Refspecs a push carries at most (the command line stays short). */
const PUSH_CHUNK = 200;

/**
 * Re-sign with `pair` what the operator's own tags hold that a retired key signed and no longer
 * vouches for (`retired`, seals resolved): the tags themselves (moved to a re-signed message and
 * pushed; put back if the push fails, so the next sync tries again), and each registry entry that is
 * that same advertisement under an untrusted signature. Returns the entries re-signed in the registry.
 */
export async function resignOwnTags(
  rt: Runtime,
  registry: Registry,
  git: Git,
  pair: KeyPair,
  retired: RetiredKey[],
  tags: ReadonlyMap<string, OwnTag>,
): Promise<{ resigned: string[]; retagged: number }> {
  const stale: Advertisement[] = [];
  for (const [, t] of tags) {
    const ad = t.ad;
    if (!ad?.signature || !t.target || t.target !== ad.commit) continue;
    if (retiredSigner(ad, pair.publicKey, retired) && signatureProblem(ad, pair.publicKey, retired) !== undefined) stale.push(ad);
  }
  if (stale.length === 0) return { resigned: [], retagged: 0 };
  const fresh = stale.map((ad) => resigned(ad, pair));
  const retagged = await retag(rt, git, fresh);
  const out: string[] = [];
  for (const ad of fresh) {
    const id = { hub: ad.hub, date: ad.date, operator: ad.operator };
    let current: Advertisement | undefined;
    try {
      current = await registry.getAdvertisement(id);
    } catch (e) {
      if (!hasKind(e, 'VERIFY')) throw e;
    }
    if (!current || advertisementSigningText(current) !== advertisementSigningText(ad)) continue;
    if (signatureProblem(current, pair.publicKey, retired) === undefined) continue;
    await registry.advertise({ ...current, signature: ad.signature });
    out.push(`${ad.hub}/${ad.date}`);
  }
  if (out.length) rt.out.info(`re-signed ${out.length} entr${out.length === 1 ? 'y' : 'ies'} a retired key had signed and no longer vouches for`);
  return { resigned: out, retagged };
}

/** Move each tag to the re-signed advertisement and push them; on a failed push, put them back (warned). */
async function retag(rt: Runtime, git: Git, ads: Advertisement[]): Promise<number> {
  const refs = ads.map((ad) => `refs/tags/${ad.tag}`);
  const before = await refTargets(git, refs);
  for (const ad of ads) await annotatedTag(git, ad.tag, ad.commit, serializeAdvertisement(ad));
  const remote = rt.config.remote;
  try {
    for (let i = 0; i < refs.length; i += PUSH_CHUNK) {
      const chunk = refs.slice(i, i + PUSH_CHUNK).map((r) => `+${r}:${r}`);
      await pushRefs(git, remote, chunk, { atomic: true, what: `git push of re-signed tags to ${remote}` });
    }
    return ads.length;
  } catch (e) {
    if (!hasKind(e, 'REMOTE')) throw e;
    for (const ref of refs) {
      const old = before.get(ref);
      if (old) await setRef(git, ref, old);
    }
    rt.out.warn(`could not push ${ads.length} re-signed tag(s) (${e.message}); the next syncer sync tries again`);
    return 0;
  }
}

/**
 * Commit `.syncer/seals/<digest>.json` for every sealed-by-digest rotation of `record` the
 * repository lacks (from `known` seals, else the registry's pages, checked against the digest).
 */
export async function keepSealFiles(
  rt: Runtime,
  registry: Registry,
  git: Git,
  top: string,
  record: OperatorRecord,
  known: ReadonlyMap<string, Record<string, string>> = new Map(),
): Promise<void> {
  const written: string[] = [];
  for (const r of record.rotations ?? []) {
    if (!r.sealDigest || existsSync(join(top, sealFile(r.sealDigest)))) continue;
    let seal = known.get(r.from);
    if (!seal || sealDigestOf(seal) !== r.sealDigest) {
      const read = sealFromPages(await registry.readSealPages(record.operator, r.sealDigest), r.sealDigest, r.sealCount);
      if (!('sealed' in read)) {
        rt.out.warn(
          `the seal ${r.sealDigest.slice(0, 12)} of ${record.operator} could not be read from the registry (${read.problem}); not kept in the repository`,
        );
        continue;
      }
      seal = read.sealed;
    }
    makeDirs(join(top, '.syncer', 'seals'));
    writeFileSync(join(top, sealFile(r.sealDigest)), canonicalSeal(seal));
    written.push(sealFile(r.sealDigest));
  }
  if (written.length === 0) return;
  try {
    await commitPaths(git, written, `syncer: seal${written.length === 1 ? '' : 's'} of retired keys`, 'syncer sync');
  } catch (e) {
    for (const f of written) rmSync(join(top, f), { force: true }); // written again, and committed, by the next sync
    throw e;
  }
}
