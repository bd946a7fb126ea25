/**
 * What reindex did (or, with --dry-run, would do): the result `--json` prints, its text form, the
 * warnings about what was left out, and the exit code when a remote could not be read.
 */
import { SyncerError } from '../../errors.js';
import { escapeControl } from '../../core/sanitize.js';
import type { DatasetId, Keys } from '../../core/keys.js';
import type { Runtime } from '../../runtime.js';
import type { Plan, Unit } from './plan.js';
import type { Skip } from './verify.js';
import type { CommitResult } from './write.js';

export interface RemoteReport {
  operator: string;
  url: string;
  source: 'flag' | 'file' | 'registry' | 'mirror';
  ok: boolean;
  /** syncer/* tags listed in the remote. */
  tags: number;
  /** Advertisements that verified. */
  verified: number;
  /** Where the key that verified them came from, or why there is none. */
  record?: 'repository' | 'registry';
  recordProblem?: string;
  error?: string;
}

export interface ReindexResult {
  dryRun: boolean;
  added: number;
  updated: number;
  unchanged: number;
  pruned: number;
  stale: DatasetId[];
  skipped: Skip[];
  operators: { added: string[]; unchanged: string[]; differs: string[] };
  markers: { added: number; removed: number };
  remotes: RemoteReport[];
  changes: { added: string[]; updated: string[]; pruned: string[] };
  transactions: number;
}

/** What the result is made of besides the plan and what its writing did. */
export interface ResultContext {
  keys: Keys;
  dryRun: boolean;
  fromMirror: boolean;
  skipped: Skip[];
  remotes: RemoteReport[];
}

/** The plan as written: a unit that lost its compare (changed meanwhile) is not counted as done. */
export function resultOf(plan: Plan, written: CommitResult, { keys: k, dryRun, fromMirror, skipped, remotes }: ResultContext): ReindexResult {
  const lost = new Set(written.conflicts.flatMap((u) => u.ids));
  const kept = (ids: string[]) => ids.filter((id) => !lost.has(id));
  const changes = { added: kept(plan.added), updated: kept(plan.updated), pruned: kept(plan.pruned) };
  return {
    dryRun,
    added: changes.added.length,
    updated: changes.updated.length,
    unchanged: plan.unchanged,
    pruned: changes.pruned.length,
    stale: fromMirror ? [] : plan.stale,
    skipped: [...skipped, ...conflictSkips(k, written.conflicts)],
    operators: { added: kept(plan.records.added), unchanged: plan.records.unchanged, differs: plan.records.differs },
    markers: {
      added: new Set(written.applied.flatMap((u) => u.markers)).size,
      removed: written.applied.flatMap((u) => u.ops).filter((o) => 'delete' in o && o.delete.startsWith(k.dateIndexPrefix)).length,
    },
    remotes,
    changes,
    transactions: written.transactions,
  };
}

function conflictSkips(k: Keys, conflicts: Unit[]): Skip[] {
  return conflicts.flatMap((u) =>
    u.ids.map((id) => ({ key: u.kind === 'record' ? k.operator(id) : k.dataset(idOf(id)), reason: 'changed in the registry while reindex ran: left alone' })),
  );
}

const idOf = (text: string): DatasetId => {
  const [hub, date, operator] = text.split('/') as [string, string, string];
  return { hub, date, operator };
};

/** On stderr, whatever the output format: what was skipped and why, remotes that failed, stale entries. */
export function warn(rt: Runtime, r: ReindexResult, prune: boolean): void {
  for (const s of r.skipped) {
    const what = s.tag ? `tag ${s.tag}` : (s.key ?? '');
    rt.out.warn(`skipped ${escapeControl(what)}${s.operator ? ` of ${s.operator}` : ''}: ${escapeControl(s.reason)}`);
  }
  for (const x of r.remotes) {
    if (!x.ok) rt.out.warn(`could not read the remote of ${x.operator}: ${escapeControl(x.error ?? '')}`);
    else if (x.recordProblem) rt.out.warn(`operator record of ${x.operator}: ${escapeControl(x.recordProblem)}`);
  }
  if (prune) return;
  for (const id of r.stale) rt.out.info(`stale: ${id.hub}/${id.date}/${id.operator} (its tag is gone from the remote; --prune removes it)`);
}

export function render(r: ReindexResult, prune: boolean): string {
  const would = r.dryRun ? 'would be ' : '';
  const failed = r.remotes.filter((x) => !x.ok);
  const tags = r.remotes.reduce((n, x) => n + x.tags, 0);
  const verified = r.remotes.reduce((n, x) => n + x.verified, 0);
  const datasets = prune ? `${r.pruned} ${would}pruned` : `${r.stale.length} stale${r.stale.length ? ' (--prune removes them)' : ''}`;
  const differs = r.operators.differs.length ? `, ${r.operators.differs.length} differ from the repository (left alone)` : '';
  const lines = [
    ...(r.dryRun ? ['dry run: nothing was written'] : []),
    `remotes     ${r.remotes.length - failed.length} read${failed.length ? `, ${failed.length} failed (${failed.map((f) => f.operator).join(', ')})` : ''}`,
    `tags        ${tags} (${verified} verified)`,
    `datasets    ${r.added} ${would}added, ${r.updated} ${would}updated, ${r.unchanged} unchanged, ${datasets}`,
    `operators   ${r.operators.added.length} ${would}added, ${r.operators.unchanged.length} unchanged${differs}`,
    `skipped     ${r.skipped.length}${r.skipped.length ? ' (reasons on stderr; --json lists them)' : ''}`,
    ...(r.dryRun ? plannedChanges(r) : []),
  ];
  return lines.map(escapeControl).join('\n');
}

function plannedChanges(r: ReindexResult): string[] {
  return [
    ...r.changes.added.map((id) => `  add     ${id}`),
    ...r.changes.updated.map((id) => `  update  ${id}`),
    ...r.changes.pruned.map((id) => `  prune   ${id}`),
    ...r.operators.added.map((op) => `  add     operator ${op}`),
  ];
}

/** Exit 4 once the rest is done: the remotes that could be read were indexed all the same. */
export function failIfUnread(r: ReindexResult): void {
  const failed = r.remotes.filter((x) => !x.ok);
  if (!failed.length) return;
  const names = failed.map((f) => f.operator).join(', ');
  const message = `${failed.length} of ${r.remotes.length} remote(s) could not be read (${names}); the others were ${r.dryRun ? 'planned' : 'indexed'}`;
  throw new SyncerError('REMOTE', message, { hint: 'fix the remote (or its URL) and run syncer reindex again: it only writes what is missing' });
}
