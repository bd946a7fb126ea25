/**
 * syncer search [QUERY]: datasets found by what they are about (issue 14), over the whole registry
 * (or one hub): title, keywords, description, hub and resource names, with filters on operator,
 * licence and date. Only entries that verify (the Verifier, as for ls) are shown; each dataset
 * (hub and operator) once, at its newest matching date. Cheap tests come first: the key (hub,
 * operator, date), then the raw text, and only then parsing and, per dataset, signatures.
 */
import { checkDate, checkName } from '../../core/names.js';
import { parseDatasetKey } from '../../core/keys.js';
import { parseAdvertisement } from '../../core/advertisement.js';
import { cut } from '../../core/meta.js';
import { type Candidate, groupCandidates, keyPasses, licensePasses, matchScore, mayMatch, queryTerms, rankResults } from '../../core/meta-search.js';
import { usageError } from '../../errors.js';
import type { Runtime } from '../../runtime.js';
import { Verifier } from '../../verifier.js';

export interface SearchOptions {
  query?: string;
  hub?: string;
  operator?: string;
  license?: string;
  since?: string;
  limit?: number;
  allowUnsigned?: boolean;
  acceptKey?: boolean;
}

export interface SearchResult {
  hub: string;
  date: string;
  operator: string;
  title?: string;
  description?: string;
  keywords?: string[];
  licenses?: string[];
  resources?: string[];
  commit: string;
  files: number;
  bytes: number;
  syncedAt: string;
  /** How many of this dataset's dates match (only the one shown is verified). */
  dates: number;
  score: number;
}

type Found = Candidate & { dates: number };

/** Per dataset (hub and operator), its newest matching entry that verifies; an older one stands in for a refused one. */
async function newestVerified(verifier: Verifier, matches: Candidate[]): Promise<Found[]> {
  const found: Found[] = [];
  let pending = groupCandidates(matches).map((group) => ({ group, next: 0 }));
  while (pending.length > 0) {
    const { ok } = await verifier.usable(pending.map((p) => p.group[p.next]!.ad));
    const verified = new Set(ok);
    const again: typeof pending = [];
    for (const p of pending) {
      const c = p.group[p.next]!;
      if (verified.has(c.ad)) found.push({ ...c, dates: p.group.length });
      else if (p.next + 1 < p.group.length) again.push({ group: p.group, next: p.next + 1 });
    }
    pending = again;
  }
  return found;
}

export async function run(rt: Runtime, options: SearchOptions): Promise<void> {
  if (options.hub !== undefined) checkName('hub', options.hub);
  if (options.operator !== undefined) checkName('operator', options.operator);
  if (options.since !== undefined) checkDate(options.since);
  const limit = options.limit ?? 50;
  if (!Number.isInteger(limit) || limit < 1) throw usageError(`--limit must be a whole number of 1 or more (got ${limit})`);
  const terms = queryTerms(options.query);
  const registry = await rt.registry();
  const transports = rt.config.allowedTransports;

  // Keys come in order, a hub's entries together: each hub's matches are settled (verified, newest
  // per dataset) before the next hub's are read, so memory holds one hub's matches, not the registry's.
  const verifier = new Verifier(rt, registry, options);
  const found: Found[] = [];
  let matches: Candidate[] = [];
  let hub: string | undefined;
  const settle = async () => {
    found.push(...(await newestVerified(verifier, matches)));
    matches = [];
  };
  for await (const kv of registry.scanDatasets({ hub: options.hub })) {
    const id = parseDatasetKey(registry.keys, kv.key);
    if (!id) {
      rt.out.skip(kv.key, 'malformed registry key');
      continue;
    }
    if (!keyPasses(id, options)) continue;
    if (terms.length > 0 && !mayMatch(kv.value.toString().toLowerCase(), terms)) continue;
    const parsed = parseAdvertisement(kv.value, { expect: id, transports });
    if (!parsed.ok) {
      rt.out.skip(`${id.hub}/${id.date}/${id.operator}`, parsed.problem);
      continue;
    }
    if (!licensePasses(parsed.ad, options.license)) continue;
    const score = matchScore(parsed.ad, terms);
    if (score === 0) continue;
    if (id.hub !== hub) {
      await settle();
      hub = id.hub;
    }
    matches.push({ ad: parsed.ad, score });
  }
  await settle();

  const ranked = rankResults(found);
  const shown = ranked.slice(0, limit);
  if (ranked.length > shown.length) rt.out.info(`${ranked.length - shown.length} more match(es): --limit ${ranked.length} shows them all`);
  const results: SearchResult[] = shown.map(({ ad, score, dates }) => ({
    hub: ad.hub,
    date: ad.date,
    operator: ad.operator,
    ...(ad.meta?.title !== undefined ? { title: ad.meta.title } : {}),
    ...(ad.meta?.description !== undefined ? { description: ad.meta.description } : {}),
    ...(ad.meta?.keywords ? { keywords: ad.meta.keywords } : {}),
    ...(ad.meta?.licenses ? { licenses: ad.meta.licenses } : {}),
    ...(ad.meta?.resources ? { resources: ad.meta.resources } : {}),
    commit: ad.commit,
    files: ad.files,
    bytes: ad.bytes,
    syncedAt: ad.syncedAt,
    dates,
    score,
  }));
  rt.out.result(results, () =>
    results.length === 0
      ? 'no datasets match'
      : rt.out.table(
          ['HUB', 'DATE', 'OPERATOR', 'TITLE', 'KEYWORDS', 'LICENSES'],
          results.map((r) => [
            r.hub,
            r.date,
            r.operator,
            cut(r.title ?? '', 50),
            cut((r.keywords ?? []).join(', '), 40),
            cut((r.licenses ?? []).join(', '), 30),
          ]),
        ),
  );
}
