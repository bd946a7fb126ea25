/** syncer ls [hub [date]]: hubs, a hub's dates (newest first), or one date's advertisements. */
import { checkDate, checkName } from '../../core/names.js';
import type { Runtime } from '../../runtime.js';
import { refusedHint, Verifier } from '../../verifier.js';
import { verifyError } from '../../errors.js';
import { escapeControl } from '../../core/sanitize.js';
import { datesOf } from '../retrieve/plan.js';
import type { Advertisement } from '../../core/advertisement.js';
import type { DateSummary, Skipped } from '../../adapters/registry.js';

export interface LsOptions {
  hub?: string;
  date?: string;
  allowUnsigned?: boolean;
  acceptKey?: boolean;
  /** Also show syncs in progress (marked). */
  all?: boolean;
}

export async function run(rt: Runtime, options: LsOptions): Promise<void> {
  if (options.hub !== undefined) checkName('hub', options.hub);
  if (options.date !== undefined && options.date !== 'latest') checkDate(options.date);
  const registry = await rt.registry();
  const verifier = new Verifier(rt, registry, options);
  if (options.hub === undefined) {
    const hubs = await registry.listHubs();
    rt.out.result(hubs, () =>
      hubs.length === 0 ? 'no datasets advertised yet' : rt.out.table(['HUB', 'LATEST', 'DATES'], hubs.map((h) => [h.hub, h.latestDate, h.dates])),
    );
    return;
  }
  // A hub's dates come from its advertisements that verify (one read of that hub), so an entry that
  // does not parse or verify is skipped here too and never passes for the latest.
  let hubDates: DateSummary[] | undefined;
  let hubEntries: Advertisement[] | undefined;
  const skipped: Skipped[] = [];
  let refusedProblems: string[] = [];
  if (options.date === undefined || options.date === 'latest') {
    const { ok, refused } = await verifier.usable(await registry.listHubEntries(options.hub, skipped));
    hubEntries = ok;
    hubDates = datesOf(hubEntries);
    refusedProblems = [...skipped.map((s) => s.problem), ...refused.map((r) => `${r.ad.hub}/${r.ad.date}/${r.ad.operator}: ${escapeControl(r.problem)}`)];
  }
  if (options.date === 'latest') {
    const latest = hubDates![0];
    if (!latest) {
      // Entries exist but every one is refused: like retrieve --date latest (exit 5), not "no datasets".
      if (refusedProblems.length > 0) {
        const shown = refusedProblems.slice(0, 3).join('; ') + (refusedProblems.length > 3 ? '; ...' : '');
        throw verifyError(`refusing every advertisement for hub ${options.hub}: ${shown}`, refusedHint(refusedProblems));
      }
      rt.out.result([], () => `no datasets for hub ${options.hub}`);
      return;
    }
    options.date = latest.date;
  }
  if (options.date === undefined) {
    const dates: (DateSummary & { inProgress?: string[] })[] = hubDates!;
    if (options.all) {
      for (const r of await registry.listInProgress(options.hub)) {
        let d = dates.find((x) => x.date === r.date);
        if (!d) dates.push((d = { date: r.date, operators: [] }));
        (d.inProgress ??= []).push(r.operator);
      }
      dates.sort((x, y) => (x.date < y.date ? 1 : -1));
    }
    rt.out.result(dates, () =>
      dates.length === 0
        ? `no datasets for hub ${options.hub}`
        : rt.out.table(
            ['DATE', 'OPERATORS'],
            dates.map((d) => [d.date, `${d.operators.length}: ${d.operators.join(', ')}${d.inProgress ? `  (in progress: ${d.inProgress.join(', ')})` : ''}`]),
          ),
    );
    return;
  }
  const date = options.date;
  const entries = hubEntries ? hubEntries.filter((e) => e.date === date) : (await verifier.usable(await registry.listEntries(options.hub, date))).ok;
  const rows: Record<string, unknown>[] = entries.map((e) => ({ operator: e.operator, commit: e.commit, files: e.files, bytes: e.bytes, syncedAt: e.syncedAt, remote: e.remote }));
  const table = entries.map((e) => [e.operator, e.commit.slice(0, 12), e.files, e.bytes, e.syncedAt, e.remote, e.message.slice(0, 60)]);
  if (options.all) {
    for (const r of await registry.listInProgress(options.hub, options.date)) {
      rows.push({ operator: r.operator, inProgress: true, runId: r.runId, startedAt: r.startedAt });
      table.push([`${r.operator} (in progress)`, '-', '-', '-', r.startedAt, '-', `run ${r.runId}`]);
    }
  }
  rt.out.result(rows, () =>
    rows.length === 0 ? `no datasets for ${options.hub} on ${options.date}` : rt.out.table(['OPERATOR', 'COMMIT', 'FILES', 'BYTES', 'SYNCED', 'REMOTE', 'MESSAGE'], table),
  );
}
