/** The pure part of retrieve: which date is "latest", and what to do with an existing target. */
import type { DateSummary } from '../../adapters/registry.js';
import type { Advertisement } from '../../core/advertisement.js';

/** A hub's dates, newest first, each with its operators (sorted), from its advertisements. */
export function datesOf(ads: Advertisement[]): DateSummary[] {
  const byDate = new Map<string, string[]>();
  for (const ad of ads) byDate.set(ad.date, [...(byDate.get(ad.date) ?? []), ad.operator]);
  return [...byDate.entries()]
    .sort(([a], [b]) => (a < b ? 1 : a > b ? -1 : 0))
    .map(([date, operators]) => ({ date, operators: operators.sort() }));
}

/** Newest date with an entry (by `operator` when given). `dates` is newest first. */
export function latestDate(dates: DateSummary[], operator?: string): string | undefined {
  return dates.find((d) => d.operators.length > 0 && (!operator || d.operators.includes(operator)))?.date;
}

export type TargetState =
  | { kind: 'absent' }
  | { kind: 'empty-dir' }
  | { kind: 'same-dataset'; clean: boolean }
  | { kind: 'foreign' };

export type TargetAction = 'clone' | 'update' | 'replace';

/** What retrieve does with the target, or the refusal (with its hint) when it must not touch it. */
export function targetAction(state: TargetState, force: boolean): { action: TargetAction } | { refuse: string; hint: string } {
  switch (state.kind) {
    case 'absent':
    case 'empty-dir':
      return { action: 'clone' };
    case 'same-dataset':
      if (state.clean || force) return { action: 'update' };
      return { refuse: 'has local modifications or commits', hint: 'copy what you need elsewhere, then pass --force to overwrite them (or retrieve --into another directory)' };
    case 'foreign':
      if (force) return { action: 'replace' };
      return { refuse: 'exists and is not a checkout of this dataset', hint: 'choose another --into, or pass --force to replace it' };
  }
}
