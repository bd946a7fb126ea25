/** The pure part of retrieve: which date is "latest", and what to do with an existing target. */
import type { DateSummary } from '../../core/summaries.js';
import type { Advertisement } from '../../core/advertisement.js';

/** A hub's dates, newest first, each with its operators (sorted), from its advertisements. */
export function datesOf(ads: Advertisement[]): DateSummary[] {
  const byDate = new Map<string, string[]>();
  for (const ad of ads) byDate.set(ad.date, [...(byDate.get(ad.date) ?? []), ad.operator]);
  return [...byDate.entries()].sort(([a], [b]) => (a < b ? 1 : a > b ? -1 : 0)).map(([date, operators]) => ({ date, operators: operators.sort() }));
}

/** Newest date with an entry (by `operator` when given). `dates` is newest first. */
export function latestDate(dates: DateSummary[], operator?: string): string | undefined {
  return dates.find((d) => d.operators.length > 0 && (!operator || d.operators.includes(operator)))?.date;
}

export type TargetState =
  | { kind: 'absent' }
  | { kind: 'empty-dir' }
  // unfinished: an update by syncer was in progress and never finished (killed, or its undo failed).
  | { kind: 'same-dataset'; clean: boolean; unfinished?: boolean }
  | { kind: 'foreign' };

/** 'complete': an update whose unfinished predecessor left the working tree changed; the changes are syncer's own, so it forces. */
export type TargetAction = 'clone' | 'update' | 'complete' | 'replace';

/** What retrieve does with the target, or the refusal (with its hint) when it must not touch it. */
export function targetAction(state: TargetState, force: boolean): { action: TargetAction } | { refuse: string; hint: string } {
  switch (state.kind) {
    case 'absent':
    case 'empty-dir':
      return { action: 'clone' };
    case 'same-dataset':
      if (state.unfinished) return { action: 'complete' };
      if (state.clean || force) return { action: 'update' };
      return {
        refuse: 'has local modifications or commits',
        hint: 'copy what you need elsewhere, then pass --force to overwrite them (or retrieve --into another directory)',
      };
    case 'foreign':
      if (force) return { action: 'replace' };
      return { refuse: 'exists and is not a checkout of this dataset', hint: 'choose another --into, or pass --force to replace it' };
  }
}

/** What is at a target whose run died: nothing, a finished syncer checkout, or anything else. */
export type TargetPresence = 'absent' | 'checkout' | 'other';

export interface LeftoverPlan {
  /** The directory moved aside to put back at the target. */
  restore?: string;
  remove: string[];
  /** Moved-aside directories that may hold the only copy of something: kept, with a warning. */
  keep: string[];
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * What to do with what dead retrieves left beside the target `name` (`siblings`: the names in
 * its directory). A clone (`.<name>.syncer-tmp-*`) is never the only copy of anything: removed. A
 * moved-aside directory (`.<name>.syncer-old-*`) held what was at the target: put back when the
 * target is missing (the run died between its two renames), removed when a finished checkout
 * replaced it (the run died just before removing it), else kept.
 */
export function leftoverPlan(name: string, siblings: string[], target: TargetPresence): LeftoverPlan {
  const of = (kind: string) => siblings.filter((s) => new RegExp(`^\\.${escapeRe(name)}\\.syncer-${kind}-[0-9a-f]+$`).test(s)).sort();
  const olds = of('old');
  const plan: LeftoverPlan = { remove: of('tmp'), keep: [] };
  // One run moves one directory aside; more than one when the target is missing is no state syncer makes.
  if (target === 'absent' && olds.length === 1) plan.restore = olds[0];
  else if (target === 'checkout') plan.remove.push(...olds);
  else plan.keep.push(...olds);
  return plan;
}
