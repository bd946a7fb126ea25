/**
 * The syncer registry on top of the etcd adapter: advertisements, operator records and the index
 * markers that keep listings cheap. Everything read back is validated; listings skip (and warn
 * about) entries that do not parse, single reads refuse them with exit 5.
 */
import { SyncerError, verifyError } from '../errors.js';
import { keys, parseDatasetKey, parseDateIndexKey, type DatasetId, type Keys } from '../core/keys.js';
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
import { EtcdAdapter, type EtcdConnectOptions } from './etcd.js';

export interface HubSummary {
  hub: string;
  latestDate: string;
  dates: number;
}

export interface DateSummary {
  date: string;
  operators: string[];
}

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
  readonly etcd: EtcdAdapter;
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

  /** Hubs with their newest date and date count, from the date index (never the advertisements). */
  async listHubs(): Promise<HubSummary[]> {
    const hubs = new Map<string, HubSummary>();
    const limit = latestHonestDate(this.now());
    const future: string[] = [];
    for await (const kv of this.etcd.range(this.keys.dateIndexPrefix, { keysOnly: true })) {
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
    if (future.length) this.warn(`skipping ${future.length} date(s) after tomorrow (UTC), which no honest sync makes: ${future.slice(0, 3).join(', ')}${future.length > 3 ? ', ...' : ''}`);
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
    const base = `${this.keys.namespace}inprogress/`;
    const prefix = base + (hub ? `${hub}/` + (date ? `${date}/` : '') : '');
    const out: InProgressEntry[] = [];
    const limit = latestHonestDate(this.now());
    for await (const kv of this.etcd.range(prefix)) {
      const id = parseDatasetKey(this.keys, this.keys.datasetsPrefix + kv.key.slice(base.length));
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
    for await (const kv of this.etcd.range(this.keys.datasetsPrefix)) {
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
            throw new SyncerError('USAGE', `the registry already holds a newer advertisement for ${ad.hub}/${ad.date}/${ad.operator} (synced at ${current.ad.syncedAt}, this one ${ad.syncedAt})`, {
              hint: 'check this machine\'s clock; the newer entry was kept',
            });
          }
        }
        outcome = 'replaced';
      }
      const committed = await this.etcd.call(`advertisement ${key}`, async () => {
        const txn = existing
          ? this.etcd.client.if(key, 'Mod', '==', existing.modRevision)
          : this.etcd.client.if(key, 'Version', '==', 0);
        const res = await txn
          .then(
            this.etcd.client.put(key).value(value),
            this.etcd.client.put(this.keys.dateIndex(ad.hub, ad.date)).value(''),
            this.etcd.client.delete().key(this.keys.inProgress(id)),
          )
          .commit();
        return res.succeeded;
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
    const lease = this.etcd.client.lease(ttlSeconds, { autoKeepAlive: true });
    lease.on('lost', () => undefined); // expiry is the point; nothing to do
    // Revoking is a courtesy (the lease expires anyway): never wait long for it.
    const release = async () => {
      await lease.revoke({ deadline: Date.now() + 1000 }).catch(() => lease.release());
    };
    try {
      await this.etcd.call(`in-progress marker`, async () => {
        await lease.put(this.keys.inProgress(id)).value(JSON.stringify({ runId, startedAt: startedAt.toISOString() }));
      });
    } catch (e) {
      this.warn(`could not announce the running sync (${(e as Error).message}); going on`);
      lease.release();
      return { release: async () => undefined };
    }
    return { release };
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
    for await (const kv of this.etcd.range(this.keys.operatorsPrefix)) {
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
    return this.etcd.call(`operator record ${key}`, async () => {
      const cmp = prevModRevision ? this.etcd.client.if(key, 'Mod', '==', prevModRevision) : this.etcd.client.if(key, 'Version', '==', 0);
      return (await cmp.then(this.etcd.client.put(key).value(JSON.stringify(record))).commit()).succeeded;
    });
  }

  async close(): Promise<void> {
    await this.etcd.close();
  }
}
