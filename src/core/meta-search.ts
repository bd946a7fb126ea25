/**
 * `syncer search`, pure: which advertisements match a query (title, keywords, description, hub,
 * resource names; every term must match somewhere), how well, and the filters. No I/O.
 */
import type { Advertisement } from './advertisement.js';

export interface SearchFilters {
  hub?: string;
  operator?: string;
  license?: string;
  since?: string;
}

/** Lower-cased terms of a query (whitespace separates them); no terms matches everything. */
export function queryTerms(query: string | undefined): string[] {
  return (query ?? '')
    .toLowerCase()
    .split(/\s+/)
    .filter((t) => t !== '');
}

/**
 * Whether a raw registry value can match at all: every term must be in its text (lower-cased). A
 * cheap test before parsing; a term JSON would write escaped (quotes, backslashes, control
 * characters) is left to the real match, as is a value with \u escapes.
 */
export function mayMatch(rawLower: string, terms: readonly string[]): boolean {
  // A writer that escapes characters (\u00e9 for é, as Python's json does) is left to the real match.
  if (rawLower.includes('\\u')) return true;
  for (const t of terms) if (!/["\\\u0000-\u001f]/.test(t) && !rawLower.includes(t)) return false;
  return true;
}

/** Filters read from the key alone (hub, operator, date), before the value is parsed. */
export function keyPasses(id: { hub: string; date: string; operator: string }, f: SearchFilters): boolean {
  if (f.hub !== undefined && id.hub !== f.hub) return false;
  if (f.operator !== undefined && id.operator !== f.operator) return false;
  if (f.since !== undefined && id.date < f.since) return false;
  return true;
}

export function licensePasses(ad: Advertisement, license: string | undefined): boolean {
  if (license === undefined) return true;
  const l = license.toLowerCase();
  return (ad.meta?.licenses ?? []).some((x) => x.toLowerCase() === l);
}

/**
 * How well `ad` matches the terms: per term its best place (keyword 4 exact, 3 partial; title 3;
 * hub 3 exact, 2 partial; resource name 1; description 1), summed; 0 when a term matches nowhere.
 * No terms: 1 (everything matches).
 */
export function matchScore(ad: Advertisement, terms: readonly string[]): number {
  if (terms.length === 0) return 1;
  const meta = ad.meta ?? {};
  const keywords = (meta.keywords ?? []).map((k) => k.toLowerCase());
  const title = (meta.title ?? '').toLowerCase();
  const description = (meta.description ?? '').toLowerCase();
  const resources = (meta.resources ?? []).map((r) => r.toLowerCase());
  let score = 0;
  for (const t of terms) {
    let best = 0;
    if (keywords.includes(t)) best = 4;
    else if (keywords.some((k) => k.includes(t))) best = 3;
    if (best < 3 && title.includes(t)) best = 3;
    if (best < 3 && ad.hub === t) best = 3;
    if (best < 2 && ad.hub.includes(t)) best = 2;
    if (best < 1 && (resources.some((r) => r.includes(t)) || description.includes(t))) best = 1;
    if (best === 0) return 0;
    score += best;
  }
  return score;
}

export interface Candidate {
  ad: Advertisement;
  score: number;
}

/**
 * The matches grouped per hub and operator, each group newest first (a dataset is found once, at
 * its newest matching date; older ones stand in when the newest does not verify).
 */
export function groupCandidates(matches: readonly Candidate[]): Candidate[][] {
  const groups = new Map<string, Candidate[]>();
  for (const m of matches) {
    const key = `${m.ad.hub}/${m.ad.operator}`;
    const g = groups.get(key);
    if (g) g.push(m);
    else groups.set(key, [m]);
  }
  const out = [...groups.values()];
  for (const g of out) g.sort((a, b) => (a.ad.date < b.ad.date ? 1 : a.ad.date > b.ad.date ? -1 : 0));
  return out;
}

/** Results in order: best score first, then newest, then hub and operator. */
export function rankResults<T extends Candidate>(results: T[]): T[] {
  return results.sort(
    (a, b) =>
      b.score - a.score ||
      (a.ad.date < b.ad.date ? 1 : a.ad.date > b.ad.date ? -1 : 0) ||
      a.ad.hub.localeCompare(b.ad.hub) ||
      a.ad.operator.localeCompare(b.ad.operator),
  );
}
