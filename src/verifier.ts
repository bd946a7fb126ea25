/**
 * Verifies advertisements for readers (retrieve, ls, watch, mirror): the operator's key
 * from the registry, pinned locally on first sight, rotations followed when signed by the pinned
 * key, and the advertisement's signature. Decisions are cached per operator for one run.
 */
import { join } from 'node:path';
import { futureDateProblem } from './core/names.js';
import { transportFix } from './core/remote-url.js';
import { advertisementSigningText, fingerprint, verifyText } from './core/signing.js';
import { decideKey, retiredSigner, sealFromPages, signatureProblem, withSeal, type KeyDecision } from './core/trust.js';
import { pinSourceOf } from './adapters/keystore.js';
import { SignatureCache } from './adapters/signature-cache.js';
import type { Advertisement } from './core/advertisement.js';
import type { Registry } from './adapters/registry.js';
import type { Runtime } from './runtime.js';
import { HubRules } from './hub-rules.js';

/** What to do about refused entries: check the signature... unless every refusal is a transport the config does not allow. */
export const SIGNATURE_HINT = 'check with the operator; --accept-key trusts a changed key, --allow-unsigned an unsigned entry';

/**
 * The hint for refused entries, from their problems: a transport refusal already names its fix
 * (`syncer config set allowedTransports http`) and gets no signature advice.
 */
export function refusedHint(problems: readonly string[]): string | undefined {
  if (problems.length > 0 && transportFix(problems)) return undefined;
  if (problems.length > 0 && problems.every((p) => p.includes('not accepted by the validators of hub'))) return 'see the votes: syncer ls HUB DATE';
  return SIGNATURE_HINT;
}

export interface VerifyOptions {
  /** Accept advertisements without a signature (with a warning). Signed ones are still verified. */
  allowUnsigned?: boolean;
  /** Accept and pin an operator key that changed without a signed rotation. */
  acceptKey?: boolean;
  /** Only datasets their hub's validators accepted (issue 13). */
  accepted?: boolean;
}

export class Verifier {
  private readonly decisions = new Map<string, Promise<KeyDecision>>();
  private readonly signatures: SignatureCache;

  constructor(
    private readonly rt: Runtime,
    private readonly registry: Registry,
    private readonly options: VerifyOptions = {},
  ) {
    void rt.trustFile; // a trust file that cannot be read is exit 2 at once, whatever gets verified
    this.signatures = new SignatureCache(join(rt.paths.cacheDir, 'verified-signatures'), (m) => rt.out.warn(m));
  }

  key(operator: string): Promise<KeyDecision> {
    let d = this.decisions.get(operator);
    if (!d) {
      d = this.decide(operator);
      this.decisions.set(operator, d);
    }
    return d;
  }

  private clusterId?: Promise<string>;

  /**
   * Pins belong to the registry's namespace; a registry wiped or restored (another etcd cluster ID
   * at the same place) keeps them, and is said once.
   */
  private async noteCluster(): Promise<void> {
    if (!this.rt.keystore.hasPins(this.rt.trustScope)) return; // no etcd round trip for a first reader
    const id = await (this.clusterId ??= this.registry.clusterId());
    const before = this.rt.keystore.noteCluster(this.rt.trustScope, id);
    if (before !== undefined) {
      this.rt.out.warn(
        `the registry now answers from another etcd cluster (ID ${id}, was ${before}; a restore or a new cluster?): the keys pinned for it are kept, ` +
          `and its entries must verify with them`,
      );
    }
  }

  private async decide(operator: string): Promise<KeyDecision> {
    await this.noteCluster();
    const entry = await this.registry.getOperatorEntry(operator);
    if (entry?.invalid) return { ok: false, problem: `the registry record of ${operator} is invalid (${entry.invalid})` };
    const keystore = this.rt.keystore;
    const scope = this.rt.trustScope;
    const vouched = this.rt.trustFile?.get(operator);
    const decision = decideKey(operator, entry?.record, keystore.pinned(scope, operator), !!this.options.acceptKey, vouched);
    if (decision.ok && decision.pin !== 'pinned') {
      keystore.pin(scope, operator, decision.publicKey, this.rt.now(), pinSourceOf(decision.pin));
      await this.noteCluster(); // a first pin of this registry records which cluster it came from
      if (decision.pin === 'new') this.rt.out.debug(`pinned the key of ${operator}: ${fingerprint(decision.publicKey)}`);
      if (decision.pin === 'rotated') this.rt.out.info(`following the signed key rotation of ${operator}: now ${fingerprint(decision.publicKey)}`);
      if (decision.pin === 'accepted') this.rt.out.warn(`accepted a changed key for ${operator} (--accept-key): now ${fingerprint(decision.publicKey)}`);
    }
    if (decision.ok && !vouched && (decision.pin === 'new' || keystore.pinSource(scope, operator) === 'first-use')) {
      // Readers are told, every time, which keys nobody checked (like ssh's known_hosts).
      const fp = fingerprint(decision.publicKey);
      this.rt.out.info(
        `note: the key of ${operator} (${fp}) is trusted on first use only; check it with ${operator}, then: syncer operators pin ${operator} ${fp}`,
      );
    }
    return decision;
  }

  /** Why `ad` must not be trusted, or undefined when it may. */
  async problem(ad: Advertisement): Promise<string | undefined> {
    const problem = (await this.check(ad)) ?? (await this.hubProblem(ad));
    this.signatures.flush();
    return problem;
  }

  // Hub charters and votes (issue 13): who may publish to a hub, and with `accepted` only what its validators accepted.
  private hubRules?: HubRules;

  /** The charters and votes of hubs, read with this verifier's key decisions. */
  get hubs(): HubRules {
    this.hubRules ??= new HubRules(
      this.registry,
      (op) => this.key(op),
      (m) => this.rt.out.warn(m),
      (entry, problem) => this.rt.out.skip(entry, problem),
      new SignatureCache(join(this.rt.paths.cacheDir, 'verified-votes'), (m) => this.rt.out.warn(m)),
    );
    return this.hubRules;
  }

  private async hubProblem(ad: Advertisement): Promise<string | undefined> {
    return (await this.hubs.publisherProblem(ad)) ?? (this.options.accepted ? await this.hubs.acceptedProblem(ad) : undefined);
  }

  private async check(ad: Advertisement): Promise<string | undefined> {
    // Before any signature: a valid key does not make a date from the future honest.
    const future = futureDateProblem(ad.date, this.rt.now());
    if (future) return future;
    if (!ad.signature && this.options.allowUnsigned) {
      this.rt.out.warn(`${ad.hub}/${ad.date}/${ad.operator} is not signed; accepted because of --allow-unsigned`);
      return undefined;
    }
    const decision = await this.key(ad.operator);
    if (!decision.ok) return decision.problem;
    if (this.signedByCurrentKey(ad, decision.publicKey)) return undefined;
    const problem = await this.retiredProblem(ad, decision);
    if (!problem) return undefined;
    // A long-running reader (watch) may hold a key the operator has rotated since: look again once.
    this.decisions.delete(ad.operator);
    const fresh = await this.key(ad.operator);
    return fresh.ok ? this.retiredProblem(ad, fresh) : fresh.problem;
  }

  /** Seals read this run, by operator and digest (checked against the digest). */
  private readonly seals = new Map<string, Promise<ReturnType<typeof sealFromPages>>>();

  /**
   * signatureProblem, after reading the seal of the retired key that signed `ad` when its rotation
   * keeps it in pages (only then: most entries are signed by the current key).
   */
  private async retiredProblem(ad: Advertisement, decision: KeyDecision & { ok: true }): Promise<string | undefined> {
    const signer = retiredSigner(ad, decision.publicKey, decision.retired);
    if (signer?.sealDigest && !signer.sealed && !signer.sealProblem) {
      const digest = signer.sealDigest;
      const id = `${ad.operator}/${digest}`;
      let read = this.seals.get(id);
      if (!read) {
        read = this.registry.readSealPages(ad.operator, digest).then((pages) => sealFromPages(pages, digest, signer.sealCount));
        this.seals.set(id, read);
      }
      const resolved = withSeal(signer, await read);
      const i = decision.retired.indexOf(signer); // -1: a check that ran meanwhile put it there already
      if (i >= 0) decision.retired[i] = resolved;
    }
    return signatureProblem(ad, decision.publicKey, decision.retired);
  }

  /**
   * Whether the operator's current key signed `ad`: looked up in the cache of signatures verified
   * before, else verified and remembered. Only the current key's signatures are remembered: one of a
   * retired key depends on its seal and a later revocation, which are decided each time.
   */
  private signedByCurrentKey(ad: Advertisement, publicKey: string): boolean {
    if (!ad.signature) return false;
    const text = advertisementSigningText(ad);
    const digest = SignatureCache.digest(publicKey, ad.signature, text);
    if (this.signatures.has(ad.hub, digest)) return true;
    if (!verifyText(text, ad.signature, publicKey)) return false;
    this.signatures.add(ad.hub, digest);
    return true;
  }

  /**
   * The advertisements that may be trusted, in order; each refused one is skipped with a warning
   * (listing readers skip what does not verify: docs/how-it-works.md) and returned with its reason.
   */
  async usable(ads: Advertisement[]): Promise<{ ok: Advertisement[]; refused: { ad: Advertisement; problem: string }[] }> {
    const ok: Advertisement[] = [];
    const refused: { ad: Advertisement; problem: string }[] = [];
    for (const ad of ads) {
      const problem = (await this.check(ad)) ?? (await this.hubProblem(ad));
      if (problem) {
        this.rt.out.skip(`${ad.hub}/${ad.date}/${ad.operator}`, problem);
        refused.push({ ad, problem });
      } else ok.push(ad);
    }
    this.signatures.flush();
    return { ok, refused };
  }
}
