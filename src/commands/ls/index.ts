/** syncer ls [hub [date]]: hubs, a hub's dates (newest first), or one date's advertisements. */
import { checkDate, checkName } from '../../core/names.js';
import type { Runtime } from '../../runtime.js';
import type { Verifier } from '../../verifier.js';
import { verifyError } from '../../errors.js';
import { escapeControl } from '../../core/sanitize.js';
import type { Advertisement } from '../../core/advertisement.js';
import type { DateSummary, Registry, Skipped } from '../../adapters/registry.js';
import type { Validity } from '../../core/validity.js';

/**
 * What reading a hub needs (the verifier, its trust and charter rules, the table's extra columns),
 * loaded only then: `syncer ls` lists hubs from the index alone and loads none of it.
 */
async function hubReading() {
  const [verifier, meta, plan, validity] = await Promise.all([
    import('../../verifier.js'),
    import('../../core/meta.js'),
    import('../retrieve/plan.js'),
    import('../../core/validity.js'),
  ]);
  return {
    Verifier: verifier.Verifier,
    refusedHint: verifier.refusedHint,
    addMetaColumn: meta.addMetaColumn,
    datesOf: plan.datesOf,
    validityText: validity.validityText,
  };
}
type HubReading = Awaited<ReturnType<typeof hubReading>>;

export interface LsOptions {
  hub?: string;
  date?: string;
  allowUnsigned?: boolean;
  acceptKey?: boolean;
  /** Also show syncs in progress (marked). */
  all?: boolean;
  /** Only datasets their hub's validators accepted (the Verifier skips the others). */
  accepted?: boolean;
}

export async function run(rt: Runtime, options: LsOptions): Promise<void> {
  if (options.hub !== undefined) checkName('hub', options.hub);
  if (options.date !== undefined && options.date !== 'latest') checkDate(options.date);
  const registry = await rt.registry();
  if (options.hub === undefined) return listHubs(rt, registry);
  const m = await hubReading();
  const verifier = new m.Verifier(rt, registry, options);
  // A hub's dates come from its advertisements that verify (one read of that hub), so an entry that
  // does not parse or verify is skipped here too and never passes for the latest.
  const hub = options.date === undefined || options.date === 'latest' ? await verifiedHub(m, registry, verifier, options.hub) : undefined;
  const date = options.date === 'latest' ? latestDate(m, options.hub, hub!) : options.date;
  if (date === undefined && options.date === 'latest') {
    rt.out.result([], () => `no datasets for hub ${options.hub}`);
    return;
  }
  if (date === undefined) return listDates(rt, registry, options.hub, hub!.dates, !!options.all);
  const entries = hub ? hub.entries.filter((e) => e.date === date) : (await verifier.usable(await registry.listEntries(options.hub, date))).ok;
  return listEntries(m, rt, registry, options.hub, date, entries, !!options.all, await verifier.hubs.validity(entries));
}

async function listHubs(rt: Runtime, registry: Registry): Promise<void> {
  const hubs = await registry.listHubs();
  rt.out.result(hubs, () =>
    hubs.length === 0
      ? 'no datasets advertised yet'
      : rt.out.table(
          ['HUB', 'LATEST', 'DATES'],
          hubs.map((h) => [h.hub, h.latestDate, h.dates]),
        ),
  );
}

interface VerifiedHub {
  entries: Advertisement[];
  dates: DateSummary[];
  /** Why entries were skipped: registry entries that do not parse, and refused ones. */
  problems: string[];
}

async function verifiedHub(m: HubReading, registry: Registry, verifier: Verifier, hub: string): Promise<VerifiedHub> {
  const skipped: Skipped[] = [];
  const { ok, refused } = await verifier.usable(await registry.listHubEntries(hub, skipped));
  const problems = [...skipped.map((s) => s.problem), ...refused.map((r) => `${r.ad.hub}/${r.ad.date}/${r.ad.operator}: ${escapeControl(r.problem)}`)];
  return { entries: ok, dates: m.datesOf(ok), problems };
}

/** The newest date with a verified entry; entries that exist but are all refused are exit 5, as for retrieve --date latest. */
function latestDate(m: HubReading, hub: string, verified: VerifiedHub): string | undefined {
  const latest = verified.dates[0];
  if (latest) return latest.date;
  if (verified.problems.length > 0) {
    const shown = verified.problems.slice(0, 3).join('; ') + (verified.problems.length > 3 ? '; ...' : '');
    throw verifyError(`refusing every advertisement for hub ${hub}: ${shown}`, m.refusedHint(verified.problems));
  }
  return undefined;
}

async function listDates(rt: Runtime, registry: Registry, hub: string, verifiedDates: DateSummary[], all: boolean): Promise<void> {
  const dates: (DateSummary & { inProgress?: string[] })[] = verifiedDates;
  if (all) {
    for (const r of await registry.listInProgress(hub)) {
      let d = dates.find((x) => x.date === r.date);
      if (!d) dates.push((d = { date: r.date, operators: [] }));
      (d.inProgress ??= []).push(r.operator);
    }
    dates.sort((x, y) => (x.date < y.date ? 1 : -1));
  }
  const row = (d: (typeof dates)[number]) => [
    d.date,
    `${d.operators.length}: ${d.operators.join(', ')}${d.inProgress ? `  (in progress: ${d.inProgress.join(', ')})` : ''}`,
  ];
  rt.out.result(dates, () => (dates.length === 0 ? `no datasets for hub ${hub}` : rt.out.table(['DATE', 'OPERATORS'], dates.map(row))));
}

async function listEntries(
  m: HubReading,
  rt: Runtime,
  registry: Registry,
  hub: string,
  date: string,
  entries: Advertisement[],
  all: boolean,
  validity: Validity[],
): Promise<void> {
  const rows: Record<string, unknown>[] = entries.map((e, i) => ({
    operator: e.operator,
    commit: e.commit,
    files: e.files,
    bytes: e.bytes,
    syncedAt: e.syncedAt,
    remote: e.remote,
    validity: validity[i],
  }));
  const table = entries.map((e, i) => [
    e.operator,
    e.commit.slice(0, 12),
    e.files,
    e.bytes,
    e.syncedAt,
    m.validityText(validity[i]!),
    e.remote,
    e.message.slice(0, 60),
  ]);
  if (all) {
    for (const r of await registry.listInProgress(hub, date)) {
      rows.push({ operator: r.operator, inProgress: true, runId: r.runId, startedAt: r.startedAt });
      table.push([`${r.operator} (in progress)`, '-', '-', '-', r.startedAt, '-', '-', `run ${r.runId}`]);
    }
  }
  const head = ['OPERATOR', 'COMMIT', 'FILES', 'BYTES', 'SYNCED', 'VALIDITY', 'REMOTE', 'MESSAGE'];
  m.addMetaColumn(entries, rows, table, head);
  rt.out.result(rows, () => (rows.length === 0 ? `no datasets for ${hub} on ${date}` : rt.out.table(head, table)));
}
