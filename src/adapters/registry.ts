/**
 * The syncer registry on top of the etcd adapter, and the only code that talks to etcd (through
 * ./etcd.ts): advertisements, operator records, the index markers that keep listings cheap,
 * in-progress markers, watches and watch groups' state and elections, and reindex's batches.
 * Every key comes from core/keys.ts. Everything read back as an advertisement or record is
 * validated; listings skip (and warn about) entries that do not parse, single reads refuse them
 * with exit 5. The raw listings (`scan...`, `listDatasetsAt`, `readEntry`) hand their values to
 * callers that judge them.
 */
import { SyncerError, verifyError } from '../errors.js';
import { keys, parseDatasetKey, parseDateIndexKey, parseInProgressKey, sealKeys, type DatasetId, type Keys } from '../core/keys.js';
import { hubKeys, parseCharterKey, parseVoteKey } from '../core/keys.js';
import {
  isNewer,
  MAX_RECORD_BYTES,
  operatorRecordSchema,
  parseAdvertisement,
  serializeAdvertisement,
  type Advertisement,
  type OperatorRecord,
} from '../core/advertisement.js';
import { escapeControl } from '../core/sanitize.js';
import { latestHonestDate } from '../core/names.js';
import type { HubSummary } from '../core/summaries.js';
import { EtcdAdapter, type Campaign, type CompareAndSwap, type EtcdConnectOptions, type KeyValue, type PrefixWatch, type WatchListeners } from './etcd.js';

export type { HubSummary, DateSummary } from '../core/summaries.js';
export type { Campaign, CompareAndSwap, KeyValue, PrefixWatch, WatchListeners } from './etcd.js';

/** etcd allows 128 operations a transaction; keep room for the guard and the position. */
const WATCH_TXN_OPS = 100;

export type AdvertiseOutcome = 'created' | 'replaced' | 'unchanged';

export interface InProgressEntry extends DatasetId {
  runId: string;
  startedAt: string;
}

export interface RegistryOptions extends EtcdConnectOptions {
  namespace: string;
  transports: readonly string[];
  warn: (message: string) => void;
  /** An entry a listing skips (summed up by kind); warns each when not given. */
  skip?: (entry: string, problem: string) => void;
  /** The clock that decides which dates are from the future. */
  now?: () => Date;
}

/** An entry a listing skipped: its operator (when the key parsed) and why. */
export interface Skipped {
  operator?: string;
  problem: string;
}

export class Registry {
  private readonly etcd: EtcdAdapter;
  /** The key layout of this registry's namespace (pure: no access to etcd). */
  readonly keys: Keys;
  private readonly transports: readonly string[];
  private readonly warn: (message: string) => void;
  private readonly now: () => Date;
  private readonly skip: (entry: string, problem: string) => void;

  constructor(options: RegistryOptions) {
    this.skip = options.skip ?? ((entry, problem) => options.warn(`skipping ${escapeControl(entry)}: ${escapeControl(problem)}`));
    this.now = options.now ?? (() => new Date());
    this.etcd = new EtcdAdapter(options);
    this.keys = keys(options.namespace);
    this.transports = options.transports;
    this.warn = options.warn;
  }

  /** The endpoints this registry is reached at (for messages). */
  get hosts(): readonly string[] {
    return this.etcd.hosts;
  }

  /** Hubs with their newest date and date count, from the date index (never the advertisements). */
  async listHubs(): Promise<HubSummary[]> {
    const hubs = new Map<string, HubSummary>();
    const limit = latestHonestDate(this.now());
    const future: string[] = [];
    for await (const kv of this.scanDateIndex()) {
      const parsed = parseDateIndexKey(this.keys, kv.key);
      if (!parsed) {
        this.warn(`skipping malformed index key ${escapeControl(kv.key)}`);
        continue;
      }
      if (parsed.date > limit) {
        future.push(`${parsed.hub}/${parsed.date}`);
        continue;
      }
      const h = hubs.get(parsed.hub);
      if (!h) hubs.set(parsed.hub, { hub: parsed.hub, latestDate: parsed.date, dates: 1 });
      else {
        h.dates += 1;
        if (parsed.date > h.latestDate) h.latestDate = parsed.date;
      }
    }
    if (future.length)
      this.warn(
        `skipping ${future.length} date(s) after tomorrow (UTC), which no honest sync makes: ` +
          `${future.slice(0, 3).join(', ')}${future.length > 3 ? ', ...' : ''}`,
      );
    return [...hubs.values()].sort((a, b) => a.hub.localeCompare(b.hub));
  }

  /**
   * The valid advertisements of one hub and date; invalid ones are skipped with a warning (and
   * their problems pushed to `skipped`, for a caller that must tell "refused" from "none").
   */
  listEntries(hub: string, date: string, skipped?: Skipped[]): Promise<Advertisement[]> {
    return this.parsedRange(this.keys.dateDatasetsPrefix(hub, date), skipped);
  }

  /**
   * Every valid advertisement of one hub (all its dates; one paged read of that hub only), for
   * listings that must skip what does not parse or verify: `ls HUB`, `--date latest`.
   */
  listHubEntries(hub: string, skipped?: Skipped[]): Promise<Advertisement[]> {
    return this.parsedRange(this.keys.hubDatasetsPrefix(hub), skipped);
  }

  private async parsedRange(prefix: string, skipped: Skipped[] = []): Promise<Advertisement[]> {
    const out: Advertisement[] = [];
    for await (const kv of this.etcd.range(prefix)) {
      const id = parseDatasetKey(this.keys, kv.key);
      if (!id) {
        this.skip(kv.key, 'malformed registry key');
        skipped.push({ problem: `malformed registry key ${escapeControl(kv.key)}` });
        continue;
      }
      const parsed = parseAdvertisement(kv.value, { expect: id, transports: this.transports });
      if (!parsed.ok) {
        this.skip(`${id.hub}/${id.date}/${id.operator}`, parsed.problem);
        skipped.push({ operator: id.operator, problem: `${id.hub}/${id.date}/${id.operator}: ${escapeControl(parsed.problem)}` });
        continue;
      }
      out.push(parsed.ad);
    }
    return out;
  }

  /** Syncs announced as running (`<ns>inprogress/...`), optionally under one hub (and date). */
  async listInProgress(hub?: string, date?: string): Promise<InProgressEntry[]> {
    const out: InProgressEntry[] = [];
    const limit = latestHonestDate(this.now());
    for await (const kv of this.etcd.range(this.keys.inProgressUnder(hub, date))) {
      const id = parseInProgressKey(this.keys, kv.key);
      // No honest sync runs for a date after tomorrow: such a marker is planted (and unsigned).
      if (id && id.date > limit) {
        this.skip(kv.key, `an in-progress marker dated ${id.date}, after tomorrow (UTC)`);
        continue;
      }
      try {
        const v = JSON.parse(kv.value.toString()) as { runId?: unknown; startedAt?: unknown };
        if (!id || typeof v.runId !== 'string' || v.runId.length > 100 || typeof v.startedAt !== 'string' || v.startedAt.length > 40) throw new Error();
        out.push({ ...id, runId: v.runId, startedAt: v.startedAt });
      } catch {
        this.warn(`skipping the invalid in-progress entry ${escapeControl(kv.key)}`);
      }
    }
    return out;
  }

  /** One advertisement, or undefined when there is none; exit 5 when it is present but unsafe. */
  async getAdvertisement(id: DatasetId): Promise<Advertisement | undefined> {
    const kv = await this.etcd.get(this.keys.dataset(id));
    if (!kv) return undefined;
    const parsed = parseAdvertisement(kv.value, { expect: id, transports: this.transports });
    if (!parsed.ok) {
      throw verifyError(`refusing the registry entry ${id.hub}/${id.date}/${id.operator}: ${escapeControl(parsed.problem)}`);
    }
    return parsed.ad;
  }

  /** The etcd cluster's ID (a wiped or restored cluster answers with another). */
  async clusterId(): Promise<string> {
    return (await this.etcd.header(this.keys.operatorsPrefix)).clusterId;
  }

  /** Every valid advertisement of one operator, across hubs and dates (one paged read of all datasets). */
  async listOperatorEntries(operator: string): Promise<Advertisement[]> {
    const out: Advertisement[] = [];
    for await (const kv of this.scanDatasets()) {
      const id = parseDatasetKey(this.keys, kv.key);
      if (!id || id.operator !== operator) continue;
      const parsed = parseAdvertisement(kv.value, { expect: id, transports: this.transports });
      if (parsed.ok) out.push(parsed.ad);
    }
    return out;
  }

  /**
   * Write an advertisement, its index marker and the removal of its in-progress key in one
   * transaction, compare-and-swap on the entry read just before: a newer entry that is `genuine`
   * is never replaced.
   */
  async advertise(ad: Advertisement, genuine: (existing: Advertisement) => boolean = () => true): Promise<AdvertiseOutcome> {
    const id = { hub: ad.hub, date: ad.date, operator: ad.operator };
    const key = this.keys.dataset(id);
    const value = serializeAdvertisement(ad);
    for (let attempt = 0; attempt < 5; attempt++) {
      const existing = await this.etcd.get(key);
      let outcome: AdvertiseOutcome = 'created';
      if (existing) {
        const current = parseAdvertisement(existing.value, { expect: id, transports: this.transports });
        if (current.ok) {
          if (serializeAdvertisement(current.ad) === value) return 'unchanged';
          // Only a genuine entry (signed by the operator) may be newer: planted junk dated ahead is replaced.
          if (isNewer(current.ad, ad) && genuine(current.ad)) {
            throw new SyncerError(
              'USAGE',
              `the registry already holds a newer advertisement for ${ad.hub}/${ad.date}/${ad.operator} (synced at ${current.ad.syncedAt}, this one ` +
                `${ad.syncedAt})`,
              {
                hint: "check this machine's clock; the newer entry was kept",
              },
            );
          }
        }
        outcome = 'replaced';
      }
      const committed = await this.etcd.compareAndSwap(`advertisement ${key}`, {
        compares: [existing ? { key, modRevision: existing.modRevision } : { key, version: 0 }],
        ops: [{ put: key, value }, { put: this.keys.dateIndex(ad.hub, ad.date), value: '' }, { delete: this.keys.inProgress(id) }],
      });
      if (committed) return outcome;
    }
    throw new SyncerError('REGISTRY', `the advertisement ${key} kept changing under us; try again`);
  }

  /**
   * Announce a running sync: `<ns>inprogress/<hub>/<date>/<operator>` bound to a lease kept alive
   * while we run, so it vanishes by itself if we die. Best effort: a failure is a warning, never a
   * reason not to push. `advertise` deletes the key; `release` revokes the lease.
   */
  async announce(id: DatasetId, runId: string, startedAt: Date, ttlSeconds = 30): Promise<{ release: () => Promise<void> }> {
    const lease = this.etcd.keptLease(ttlSeconds);
    try {
      await this.etcd.call(`in-progress marker`, () => lease.put(this.keys.inProgress(id), JSON.stringify({ runId, startedAt: startedAt.toISOString() })));
    } catch (e) {
      this.warn(`could not announce the running sync (${(e as Error).message}); going on`);
      lease.release();
      return { release: async () => undefined };
    }
    // Revoking is a courtesy (the lease expires anyway): never waits long for it.
    return { release: () => lease.revoke() };
  }

  /** The operator record and its revision (for compare-and-swap); `invalid` when it does not parse. */
  async getOperatorEntry(operator: string): Promise<{ record?: OperatorRecord; modRevision: string; invalid?: string } | undefined> {
    const kv = await this.etcd.get(this.keys.operator(operator));
    if (!kv) return undefined;
    try {
      const json = kv.value.length > MAX_RECORD_BYTES ? undefined : JSON.parse(kv.value.toString());
      const parsed = operatorRecordSchema.safeParse(json);
      if (parsed.success && parsed.data.operator === operator) return { record: parsed.data, modRevision: kv.modRevision };
      return { modRevision: kv.modRevision, invalid: parsed.success ? 'operator name disagrees with its key' : parsed.error.issues[0]!.message };
    } catch {
      return { modRevision: kv.modRevision, invalid: 'not JSON' };
    }
  }

  /** Every operator record (invalid ones skipped with a warning). */
  async listOperators(): Promise<OperatorRecord[]> {
    const out: OperatorRecord[] = [];
    for await (const kv of this.scanOperators()) {
      const name = kv.key.slice(this.keys.operatorsPrefix.length);
      try {
        const record = operatorRecordSchema.parse(JSON.parse(kv.value.toString()));
        if (record.operator !== name) throw new Error('name disagrees with its key');
        out.push(record);
      } catch {
        this.warn(`skipping the invalid operator record ${escapeControl(kv.key)}`);
      }
    }
    return out;
  }

  /** Write an operator record: create-only when `prevModRevision` is undefined, else compare-and-swap. */
  async putOperator(record: OperatorRecord, prevModRevision: string | undefined): Promise<boolean> {
    const key = this.keys.operator(record.operator);
    return this.etcd.compareAndSwap(`operator record ${key}`, {
      compares: [prevModRevision ? { key, modRevision: prevModRevision } : { key, version: 0 }],
      ops: [{ put: key, value: JSON.stringify(record) }],
    });
  }

  /**
   * Whether we may write the advertisement of `id`, without writing anything: resolves when we
   * may, else exit 3 ("permission denied", or the auth/TLS cause). Sync's check before it commits.
   */
  checkWritableDataset(id: DatasetId): Promise<void> {
    return this.etcd.checkWritable(this.keys.dataset(id));
  }

  /** Whether we may write the record of `operator`, without writing anything (for `doctor`). */
  checkWritableOperator(operator: string): Promise<void> {
    return this.etcd.checkWritable(this.keys.operator(operator));
  }

  // Raw listings, for callers that judge the values themselves (watch, mirror, reindex).

  /**
   * Every advertisement key (of one hub, or of all) with its raw value, in key order, page by page
   * from one snapshot (`snapshot.revision` is set to its revision).
   */
  scanDatasets(options: { hub?: string; snapshot?: { revision?: string } } = {}): AsyncGenerator<KeyValue> {
    const prefix = options.hub === undefined ? this.keys.datasetsPrefix : this.keys.hubDatasetsPrefix(options.hub);
    return this.etcd.range(prefix, { snapshot: options.snapshot });
  }

  /** Every advertisement key (of one hub, or of all) with its raw value, and the revision of that snapshot (to watch from revision + 1). */
  async listDatasetsAt(hub?: string): Promise<{ kvs: KeyValue[]; revision: string }> {
    const kvs: KeyValue[] = [];
    const snapshot: { revision?: string } = {};
    for await (const kv of this.scanDatasets({ hub, snapshot })) kvs.push(kv);
    return { kvs, revision: snapshot.revision! };
  }

  /** Every date index marker (keys and revisions only). */
  scanDateIndex(): AsyncGenerator<KeyValue> {
    return this.etcd.range(this.keys.dateIndexPrefix, { keysOnly: true });
  }

  /** Every operator record key with its raw value. */
  scanOperators(): AsyncGenerator<KeyValue> {
    return this.etcd.range(this.keys.operatorsPrefix);
  }

  /** The raw entry at `key` (a key of core/keys.ts), or undefined when there is none. */
  readEntry(key: string): Promise<KeyValue | undefined> {
    return this.etcd.get(key);
  }

  /**
   * One batch of compare-and-swap writes (reindex's transactions): every compare holds and every
   * write happens, or nothing does. Whether it committed; `what` names it in errors.
   */
  writeBatch(what: string, txn: CompareAndSwap): Promise<boolean> {
    return this.etcd.compareAndSwap(what, txn);
  }

  // Watching.

  /** The cluster's ID and current revision, from a count-only read of the advertisements. */
  header(): Promise<{ clusterId: string; revision: string }> {
    return this.etcd.header(this.keys.datasetsPrefix);
  }

  /**
   * The advertisement key `key` as it was at `revision` (undefined: absent then), or 'compacted'
   * when etcd no longer has that history. `revision` must not be ahead of the current one.
   */
  datasetAt(key: string, revision: string): Promise<KeyValue | undefined | 'compacted'> {
    return this.etcd.getAt(key, revision);
  }

  /** Watch every advertisement from `revision` on (every listener attached before it connects). */
  watchDatasets(revision: string, listeners: WatchListeners): PrefixWatch {
    return this.etcd.watchPrefix(this.keys.datasetsPrefix, revision, listeners);
  }

  // Watch groups: an election, and the leader's position.

  /** Campaign to lead watch group `group` as `candidate`, on a lease of `ttlSeconds`. */
  campaignForWatchGroup(group: string, candidate: string, ttlSeconds: number): Campaign {
    return this.etcd.campaign(this.keys.namespace, this.keys.watchGroup(group).election, candidate, ttlSeconds);
  }

  /** Whether a campaign's election key still exists (its lease is alive: it still leads). */
  async holdsElectionKey(key: string): Promise<boolean> {
    return (await this.etcd.get(key)) !== undefined;
  }

  /** The raw position of watch group `group`, or undefined when it has none. */
  async readWatchPosition(group: string): Promise<string | undefined> {
    return (await this.etcd.get(this.keys.watchGroup(group).position))?.value.toString();
  }

  /** What watch group `group` knew: each advertisement key with the raw text of its entry. */
  async *readWatchKnown(group: string): AsyncGenerator<{ key: string; value: string }> {
    const g = this.keys.watchGroup(group);
    for await (const kv of this.etcd.range(g.knownPrefix)) yield { key: g.datasetKeyOf(kv.key), value: kv.value.toString() };
  }

  /**
   * Save the state of watch group `group`, only while `leaderKey` (its leader's election key, bound
   * to the leader's lease) exists: a leader that lost its lease never overwrites the position of
   * the one that took over. `known`: advertisement key -> entry text (undefined: delete it), in
   * transactions of at most WATCH_TXN_OPS operations (a single value would pass etcd's 1.5 MiB
   * request limit at ~14k advertisements), `position` with the last one. `replace`: `known` is
   * every entry (the others are deleted), and the position is deleted first and written alone at
   * the end (a crash half-way leaves no position: a restart starts as new). False as soon as a
   * transaction finds the leader gone.
   */
  async saveWatchState(group: string, leaderKey: string, position: string, known: [string, string | undefined][], replace = false): Promise<boolean> {
    const g = this.keys.watchGroup(group);
    const write = (ops: [string, string | undefined][]) =>
      this.etcd.compareAndSwap(`watch position ${g.position}`, {
        compares: [{ key: leaderKey, exists: true }],
        ops: ops.map(([key, value]) => (value === undefined ? { delete: key } : { put: key, value })),
      });
    const stored = known.map(([key, value]): [string, string | undefined] => [g.known(key), value]);
    const batches: [string, string | undefined][][] = [];
    if (!replace) {
      // Usually one transaction (one key touched, and the position).
      for (let i = 0; i < stored.length; i += WATCH_TXN_OPS) batches.push(stored.slice(i, i + WATCH_TXN_OPS));
      if (batches.length === 0) batches.push([]);
      batches[batches.length - 1]!.push([g.position, position]);
    } else {
      const keep = new Set(known.map(([key]) => key));
      const stale: [string, undefined][] = [];
      for await (const kv of this.etcd.range(g.knownPrefix, { keysOnly: true })) if (!keep.has(g.datasetKeyOf(kv.key))) stale.push([kv.key, undefined]);
      const ops: [string, string | undefined][] = [[g.position, undefined], ...stale, ...stored];
      for (let i = 0; i < ops.length; i += WATCH_TXN_OPS) batches.push(ops.slice(i, i + WATCH_TXN_OPS));
      batches.push([[g.position, position]]);
    }
    for (const batch of batches) if (!(await write(batch))) return false;
    return true;
  }

  async close(): Promise<void> {
    await this.etcd.close();
  }

  // Seals of retired keys, in pages (core/keys.ts sealKeys): content-addressed by the seal's digest.

  /** The raw pages of `operator`'s seal `digest`, in order (empty when there are none). */
  async readSealPages(operator: string, digest: string): Promise<string[]> {
    const pages: string[] = [];
    for await (const kv of this.etcd.range(sealKeys(this.keys.namespace).prefix(operator, digest))) pages.push(kv.value.toString());
    return pages;
  }

  /** Write the pages of `operator`'s seal `digest` (one transaction a page; the same digest is the same content). */
  async putSealPages(operator: string, digest: string, pages: readonly string[]): Promise<void> {
    const k = sealKeys(this.keys.namespace);
    for (const [i, value] of pages.entries()) {
      const key = k.page(operator, digest, i);
      if (!(await this.etcd.compareAndSwap(`seal page ${key}`, { compares: [], ops: [{ put: key, value }] }))) {
        throw new SyncerError('REGISTRY', `could not write the seal page ${key}`);
      }
    }
  }

  // Hub charters and votes (issue 13): raw values, judged by the callers (src/hub-rules.ts, the
  // hub and vote commands); keys from core/keys.ts `hubKeys`.

  /** Every charter version of `hub` stored under `<ns>hubs/<hub>/charter/`, with the version its key names. */
  async listCharters(hub: string): Promise<{ version: number; kv: KeyValue }[]> {
    const out: { version: number; kv: KeyValue }[] = [];
    for await (const kv of this.etcd.range(hubKeys(this.keys.namespace).chartersPrefix(hub))) {
      const version = parseCharterKey(this.keys.namespace, hub, kv.key);
      if (version === undefined) this.skip(kv.key, 'malformed charter key');
      else out.push({ version, kv });
    }
    return out;
  }

  /** The proposed next charter of `hub`, raw. */
  readCharterProposal(hub: string): Promise<KeyValue | undefined> {
    return this.etcd.get(hubKeys(this.keys.namespace).proposal(hub));
  }

  /**
   * Write charter version `version` of `hub`, create-only (or over the refused value read at
   * `replacing`); with `proposal` (the revision the proposal was read at), delete the proposal in
   * the same transaction. False when the version exists already or the proposal changed.
   */
  putCharter(hub: string, version: number, value: string, proposal?: string, replacing?: string): Promise<boolean> {
    const k = hubKeys(this.keys.namespace);
    const key = k.charter(hub, version);
    return this.etcd.compareAndSwap(`charter ${key}`, {
      compares: [replacing ? { key, modRevision: replacing } : { key, version: 0 }, ...(proposal ? [{ key: k.proposal(hub), modRevision: proposal }] : [])],
      ops: [{ put: key, value }, ...(proposal ? [{ delete: k.proposal(hub) }] : [])],
    });
  }

  /** Write the proposal of `hub`: create-only when `prevModRevision` is undefined, else compare-and-swap. */
  putCharterProposal(hub: string, value: string, prevModRevision: string | undefined): Promise<boolean> {
    const key = hubKeys(this.keys.namespace).proposal(hub);
    return this.etcd.compareAndSwap(`charter proposal ${key}`, {
      compares: [prevModRevision ? { key, modRevision: prevModRevision } : { key, version: 0 }],
      ops: [{ put: key, value }],
    });
  }

  /** Every vote about `hub` (one date, one advertisement), raw, with the dataset and voter its key names. */
  async listVotes(hub: string, date?: string, operator?: string): Promise<{ id: DatasetId & { voter: string }; kv: KeyValue }[]> {
    const out: { id: DatasetId & { voter: string }; kv: KeyValue }[] = [];
    for await (const kv of this.etcd.range(hubKeys(this.keys.namespace).votesUnder(hub, date, operator))) {
      const id = parseVoteKey(this.keys.namespace, kv.key);
      if (!id) this.skip(kv.key, 'malformed vote key');
      else out.push({ id, kv });
    }
    return out;
  }

  /** Write a vote: create-only when `prevModRevision` is undefined, else compare-and-swap. */
  putVote(id: DatasetId, voter: string, value: string, prevModRevision: string | undefined): Promise<boolean> {
    const key = hubKeys(this.keys.namespace).vote(id, voter);
    return this.etcd.compareAndSwap(`vote ${key}`, {
      compares: [prevModRevision ? { key, modRevision: prevModRevision } : { key, version: 0 }],
      ops: [{ put: key, value }],
    });
  }

  /** The raw vote of `voter` about `id`. */
  readVote(id: DatasetId, voter: string): Promise<KeyValue | undefined> {
    return this.etcd.get(hubKeys(this.keys.namespace).vote(id, voter));
  }
}
