/**
 * What reindex reads: the operators' remotes (a few at a time, each verified as soon as it is
 * read) or an archive made by `syncer mirror`; and what the plan and the report take from each.
 */
import { usageError } from '../../errors.js';
import { redactUrl } from '../../core/remote-url.js';
import { serializeAdvertisement, type OperatorRecord } from '../../core/advertisement.js';
import { signatureProblem } from '../../core/trust.js';
import type { Runtime } from '../../runtime.js';
import { remotesToRead, type RegisteredOperator, type RemoteTarget } from './inputs.js';
import type { OperatorInput } from './plan.js';
import { readMirror } from './read-mirror.js';
import { readRemote, type RemoteRead } from './read-remote.js';
import { withRepositorySeals } from './seals.js';
import type { RemoteReport } from './report.js';
import { chooseTrust, parseRecordText, verifyTags, type RecordRead, type Skip, type Trust, type VerifiedAd } from './verify.js';

/** The options that decide what is read and what verifies (a part of ReindexOptions). */
export interface SourceOptions {
  dryRun?: boolean;
  allowUnsigned?: boolean;
  acceptKey?: boolean;
  fromMirror?: string;
}

/** The registry's operators: remotes to read, and the records that verify a remote without its own. */
export interface Registered {
  operators: RegisteredOperator[];
  records: Map<string, OperatorRecord>;
}

export type Verified = ReturnType<typeof verifyRead>;

/** One source read; `v` is undefined when it could not be read. */
export interface SourceRead {
  read: RemoteRead;
  v?: Verified;
}

/** Remotes read at once: git over a network mostly waits, so more than the cores. */
const REMOTES_IN_FLIGHT = 8;

export async function readSources(
  rt: Runtime,
  options: SourceOptions,
  explicit: RemoteTarget[],
  registered: Registered,
): Promise<{ results: SourceRead[]; skipped: Skip[] }> {
  const started = Date.now();
  const sources = options.fromMirror ? await readArchive(rt, options.fromMirror, options, registered) : await readRemotes(rt, explicit, options, registered);
  rt.out.debug(`read and verified ${sources.results.length} source(s) in ${Date.now() - started} ms`);
  return sources;
}

const dryRunNote = (options: SourceOptions) => (options.dryRun ? ' (dry run: nothing will be written)' : '');

async function readArchive(rt: Runtime, archive: string, options: SourceOptions, registered: Registered): Promise<{ results: SourceRead[]; skipped: Skip[] }> {
  const { url, reads } = await readMirror(rt, archive);
  if (reads.length === 0) throw usageError(`no archived datasets in ${redactUrl(url)}`, 'is it an archive made by syncer mirror?');
  rt.out.info(`reading the archive ${redactUrl(url)}: ${reads.length} operator(s)${dryRunNote(options)}`);
  return { results: reads.map((read) => ({ read, v: verifyRead(rt, read, registered.records, options) })), skipped: [] };
}

async function readRemotes(
  rt: Runtime,
  explicit: RemoteTarget[],
  options: SourceOptions,
  registered: Registered,
): Promise<{ results: SourceRead[]; skipped: Skip[] }> {
  const { targets, skipped } = remotesToRead(explicit, registered.operators, rt.config.allowedTransports);
  if (targets.length === 0) {
    throw usageError(
      'no remotes to read: the registry has no usable operator records and none were given',
      'pass --remote OPERATOR=URL (repeatable) or --remotes-file FILE',
    );
  }
  rt.out.info(`reading ${targets.length} remote(s)${dryRunNote(options)}`);
  // Each remote is verified as soon as it is read: the CPU work overlaps the other remotes' git.
  const results = await pool(targets, REMOTES_IN_FLIGHT, (t) => readAndVerify(rt, t, options, registered.records));
  return { results, skipped };
}

/** Read remotes a few at a time (network bound), results in input order. */
async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

async function readAndVerify(rt: Runtime, target: RemoteTarget, options: SourceOptions, records: Map<string, OperatorRecord>): Promise<SourceRead> {
  const t0 = Date.now();
  const read = await readRemote(rt, target);
  const v = read.ok ? verifyRead(rt, read, records, options) : undefined;
  const outcome = read.ok ? `${read.tags.length} tags, ${v!.verified.ads.length} verified` : 'failed';
  rt.out.debug(`read the remote of ${target.operator} in ${Date.now() - t0} ms: ${outcome}`);
  return { read, v };
}

function verifyRead(rt: Runtime, read: RemoteRead, registryRecords: Map<string, OperatorRecord>, options: SourceOptions) {
  const operator = read.target.operator;
  const repo = repositoryRecord(read);
  const chosen = chooseTrust({
    operator,
    repoRecord: repo.ok ? repo.record : undefined,
    registryRecord: registryRecords.get(operator),
    pinned: rt.keystore.pinned(rt.trustScope, operator),
    acceptKey: !!options.acceptKey,
  });
  // Seals kept in pages are verified (and restored) from the repository's seal files.
  const trust: Trust = chosen.ok ? { ...chosen, retired: withRepositorySeals(chosen.retired, read.record.seals) } : chosen;
  const verified = verifyTags({ operator, tags: read.tags, trust, allowUnsigned: !!options.allowUnsigned, transports: rt.config.allowedTransports });
  // Restored entries point at the archive; the signature does not cover the remote.
  if (read.target.source === 'mirror') verified.ads = pointedAt(read.target.url, verified.ads);
  const input: OperatorInput = {
    operator,
    complete: true,
    ads: verified.ads,
    present: verified.present,
    // Only a record whose key we accept is written back (create-only).
    record: repo.ok && trust.ok && trust.source === 'repository' ? repo.value : undefined,
    genuine: (ad) => trust.ok && signatureProblem(ad, trust.publicKey, trust.retired) === undefined,
  };
  return { input, trust, verified, recordProblem: repo.ok ? undefined : repo.problem };
}

function repositoryRecord(read: RemoteRead): RecordRead {
  if (read.record.text !== undefined) return parseRecordText(read.record.text, read.target.operator);
  return { ok: false, problem: read.record.problem ?? 'no operator record' };
}

function pointedAt(remote: string, ads: VerifiedAd[]): VerifiedAd[] {
  return ads.map(({ ad }) => {
    const moved = { ...ad, remote };
    return { ad: moved, value: serializeAdvertisement(moved) };
  });
}

export interface Gathered {
  inputs: OperatorInput[];
  trusts: Map<string, Trust>;
  remotes: RemoteReport[];
}

/**
 * What the plan takes from each source read, the keys to pin once the plan is written, and the
 * report of each remote. What verification left out is added to `skipped`.
 */
export function gatherReads(rt: Runtime, results: SourceRead[], skipped: Skip[]): Gathered {
  const inputs: OperatorInput[] = [];
  const trusts = new Map<string, Trust>();
  const remotes: RemoteReport[] = [];
  for (const { read, v } of results) {
    const { operator, url, source } = read.target;
    if (!v) {
      remotes.push({ operator, url: redactUrl(url), source, ok: false, tags: 0, verified: 0, error: read.error });
      continue;
    }
    inputs.push(v.input);
    trusts.set(operator, v.trust);
    skipped.push(...v.verified.skipped);
    for (const id of v.verified.unsigned) rt.out.warn(`${id} is not signed; accepted because of --allow-unsigned`);
    remotes.push({
      operator,
      url: redactUrl(url),
      source,
      ok: true,
      tags: read.tags.length,
      verified: v.verified.ads.length,
      record: v.trust.ok ? v.trust.source : undefined,
      recordProblem: v.recordProblem ?? (v.trust.ok ? undefined : v.trust.problem),
    });
  }
  return { inputs, trusts, remotes };
}
