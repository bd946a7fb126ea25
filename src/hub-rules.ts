/**
 * What hub charters and votes mean for readers (issue 13), beside the Verifier that owns one per
 * run: the charter that takes effect for a hub (its versions read once, each signature checked with
 * the key the Verifier decides for its maintainer: the registry's record and the reader's pins),
 * whether an advertisement's operator may publish to its hub, and the validity of advertisements
 * from the votes of the hub's validators (core/validity.ts).
 */
import type { Registry } from './adapters/registry.js';
import { SignatureCache } from './adapters/signature-cache.js';
import type { Advertisement } from './core/advertisement.js';
import { mayPublish, parseCharter, resolveCharter, type CharterDoc, type KeysOf, type ResolvedCharter } from './core/charter.js';
import { escapeControl } from './core/sanitize.js';
import { verifyText } from './core/signing.js';
import type { KeyDecision } from './core/trust.js';
import { parseVote, validityOf, validityText, voteSigningText, type Validity, type Vote, type VoteDoc } from './core/validity.js';

/** A long-running reader (watch) reads a hub's charter again after this long. */
const CHARTER_TTL_MS = 30_000;

export interface HubCharter extends ResolvedCharter {
  /** How many versions are stored (0: the hub has no charter). */
  stored: number;
  /** The stored value of each version, by version (for replacing a refused one). */
  revisions: Map<number, string>;
}

export class HubRules {
  private readonly charters = new Map<string, { at: number; charter: Promise<HubCharter> }>();
  private readonly votes = new Map<string, Promise<VoteDoc[]>>();
  /** The stored bytes of each vote read. */
  private readonly stored = new WeakMap<VoteDoc, string>();
  /** The whole hub's votes by date, once a second date of it was asked for. */
  private readonly hubVotes = new Map<string, Promise<Map<string, VoteDoc[]>>>();
  /** Hubs with a date read already. */
  private readonly datesRead = new Set<string>();

  constructor(
    private readonly registry: Registry,
    private readonly keyOf: (operator: string) => Promise<KeyDecision>,
    private readonly warn: (message: string) => void,
    private readonly skip: (entry: string, problem: string) => void,
    /** Vote signatures verified before (the advertisements' cache, in a directory of its own). */
    private readonly signatures?: SignatureCache,
  ) {}

  /** The keys whose signatures count for each of `operators` (current key, and earlier keys not revoked). */
  async keysFor(operators: Iterable<string>): Promise<KeysOf> {
    const map = new Map<string, string[]>();
    for (const op of new Set(operators)) {
      const d = await this.keyOf(op);
      map.set(op, d.ok ? [d.publicKey, ...d.retired.filter((k) => !k.revoked).map((k) => k.publicKey)] : []);
    }
    return (op) => map.get(op) ?? [];
  }

  /** The charter of `hub` that takes effect (read once per run, again after a while for a watcher). */
  charter(hub: string, fresh = false): Promise<HubCharter> {
    const cached = this.charters.get(hub);
    if (cached && !fresh && Date.now() - cached.at < CHARTER_TTL_MS) return cached.charter;
    const charter = this.load(hub);
    this.charters.set(hub, { at: Date.now(), charter });
    return charter;
  }

  private async load(hub: string): Promise<HubCharter> {
    const stored = await this.registry.listCharters(hub);
    const docs: CharterDoc[] = [];
    const unparsed: string[] = [];
    const revisions = new Map<number, string>();
    for (const { version, kv } of stored) {
      revisions.set(version, kv.modRevision);
      const parsed = parseCharter(kv.value, { hub, version });
      if (parsed.ok) docs.push(parsed.doc);
      else unparsed.push(`version ${version} does not parse (${parsed.problem})`);
    }
    const keysOf = await this.keysFor(docs.flatMap((d) => d.charter.maintainers));
    const resolved = resolveCharter(docs, keysOf);
    // A version that does not parse breaks the chain where it stands.
    const problems = [...unparsed.filter((p) => Number(/\d+/.exec(p)![0]) <= (resolved.current?.charter.version ?? 0) + 1), ...resolved.problems];
    if (problems.length) {
      const using = resolved.current
        ? `using version ${resolved.current.charter.version}`
        : 'no version takes effect: the hub is read as open, without validators';
      this.warn(`the charter of hub ${hub}: ${escapeControl(problems.join('; '))}; ${using}`);
    }
    return { ...resolved, problems, stored: stored.length, revisions };
  }

  /** Why `ad` must be skipped because its operator may not publish to its hub, or undefined. */
  async publisherProblem(ad: Advertisement): Promise<string | undefined> {
    const current = (await this.charter(ad.hub)).current?.charter;
    if (!current || mayPublish(current, ad.operator)) return undefined;
    return `${ad.operator} is not a listed publisher of hub ${ad.hub} (charter version ${current.version})`;
  }

  /**
   * The votes about `hub` on `date` whose keys and values parse (the others skipped with a
   * warning): one read of that date, and once a second date of the hub is asked for (a listing of
   * its history, `--date latest --accepted`), one read of the whole hub's votes for the rest.
   */
  private votesOf(hub: string, date: string): Promise<VoteDoc[]> {
    const key = `${hub}/${date}`;
    const cached = this.votes.get(key);
    if (cached) return cached;
    let whole = this.hubVotes.get(hub);
    if (!whole && this.datesRead.has(hub)) {
      whole = this.readVotes(hub).then((docs) => {
        const byDate = new Map<string, VoteDoc[]>();
        for (const doc of docs) byDate.set(doc.vote.date, [...(byDate.get(doc.vote.date) ?? []), doc]);
        return byDate;
      });
      this.hubVotes.set(hub, whole);
    }
    const votes = whole ? whole.then((byDate) => byDate.get(date) ?? []) : this.readVotes(hub, date);
    this.datesRead.add(hub);
    this.votes.set(key, votes);
    return votes;
  }

  private async readVotes(hub: string, date?: string): Promise<VoteDoc[]> {
    const out: VoteDoc[] = [];
    for (const { id, kv } of await this.registry.listVotes(hub, date)) {
      const parsed = parseVote(kv.value, id);
      if (parsed.ok) {
        out.push(parsed.doc);
        this.stored.set(parsed.doc, kv.value.toString());
      } else this.skip(`vote ${id.hub}/${id.date}/${id.operator}/${id.voter}`, parsed.problem);
    }
    return out;
  }

  /** Forget what was read of `hub` on `date` (after a vote of our own). */
  forget(hub: string, date: string): void {
    this.votes.delete(`${hub}/${date}`);
    this.hubVotes.delete(hub);
  }

  /** The validity of each advertisement (in the order given), from the votes of its hub's validators that verify. */
  async validity(ads: readonly Advertisement[]): Promise<Validity[]> {
    const out: Validity[] = [];
    for (const ad of ads) {
      const charter = (await this.charter(ad.hub)).current?.charter;
      if (!charter || charter.validators.length === 0) {
        out.push(validityOf(undefined, ad, []));
        continue;
      }
      const validators = new Set(charter.validators);
      const candidates = (await this.votesOf(ad.hub, ad.date)).filter(({ vote }) => vote.operator === ad.operator && validators.has(vote.voter));
      const keysOf = await this.keysFor(candidates.map(({ vote }) => vote.voter));
      const verified: Vote[] = [];
      for (const doc of candidates) {
        const { vote } = doc;
        if (keysOf(vote.voter).some((k) => this.signedBy(doc, k))) verified.push(vote);
        else this.skip(`vote ${vote.hub}/${vote.date}/${vote.operator}/${vote.voter}`, `not signed by the key of ${vote.voter}`);
      }
      out.push(validityOf(charter, ad, verified));
    }
    this.signatures?.flush();
    return out;
  }

  /**
   * Whether `publicKey` signed the vote: looked up among the signatures verified before (by the
   * exact bytes stored, so a hit costs no canonical JSON), else verified and remembered.
   */
  private signedBy(doc: VoteDoc, publicKey: string): boolean {
    const { vote, raw } = doc;
    const bytes = this.stored.get(doc);
    const digest = this.signatures && bytes !== undefined ? SignatureCache.digest(publicKey, vote.signature, bytes) : undefined;
    if (digest && this.signatures!.has(vote.hub, digest)) return true;
    if (!verifyText(voteSigningText(raw), vote.signature, publicKey)) return false;
    if (digest) this.signatures!.add(vote.hub, digest);
    return true;
  }

  /** Why `ad` is not accepted by its hub's validators (for --accepted), or undefined when it is. */
  async acceptedProblem(ad: Advertisement): Promise<string | undefined> {
    const [v] = await this.validity([ad]);
    return v!.state === 'accepted' ? undefined : `not accepted by the validators of hub ${ad.hub}: ${validityText(v!)}`;
  }
}
