/** syncer ls [hub [date]]: hubs, a hub's dates (newest first), or one date's advertisements. */
import { checkDate, checkName } from '../../core/names.js';
import type { Runtime } from '../../runtime.js';
import { Verifier } from '../../verifier.js';
import { escapeControl } from '../../core/sanitize.js';
import type { Advertisement } from '../../core/advertisement.js';

export interface LsOptions {
  hub?: string;
  date?: string;
  allowUnsigned?: boolean;
  acceptKey?: boolean;
}

export async function run(rt: Runtime, options: LsOptions): Promise<void> {
  if (options.hub !== undefined) checkName('hub', options.hub);
  if (options.date !== undefined) checkDate(options.date);
  const registry = await rt.registry();
  if (options.hub === undefined) {
    const hubs = await registry.listHubs();
    rt.out.result(hubs, () =>
      hubs.length === 0 ? 'no datasets advertised yet' : rt.out.table(['HUB', 'LATEST', 'DATES'], hubs.map((h) => [h.hub, h.latestDate, h.dates])),
    );
    return;
  }
  if (options.date === undefined) {
    const dates = await registry.listDates(options.hub);
    rt.out.result(dates, () =>
      dates.length === 0
        ? `no datasets for hub ${options.hub}`
        : rt.out.table(['DATE', 'OPERATORS'], dates.map((d) => [d.date, `${d.operators.length}: ${d.operators.join(', ')}`])),
    );
    return;
  }
  const verifier = new Verifier(rt, registry, options);
  const entries: Advertisement[] = [];
  for (const e of await registry.listEntries(options.hub, options.date)) {
    const problem = await verifier.problem(e);
    if (problem) rt.out.warn(`skipping ${e.hub}/${e.date}/${e.operator}: ${escapeControl(problem)}`);
    else entries.push(e);
  }
  const rows = entries.map((e) => ({ operator: e.operator, commit: e.commit, files: e.files, bytes: e.bytes, syncedAt: e.syncedAt, remote: e.remote }));
  rt.out.result(rows, () =>
    rows.length === 0
      ? `no datasets for ${options.hub} on ${options.date}`
      : rt.out.table(
          ['OPERATOR', 'COMMIT', 'FILES', 'BYTES', 'SYNCED', 'REMOTE', 'MESSAGE'],
          entries.map((e) => [e.operator, e.commit.slice(0, 12), e.files, e.bytes, e.syncedAt, e.remote, e.message.slice(0, 60)]),
        ),
  );
}
