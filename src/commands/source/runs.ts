/** syncer source pull|push: run one source under the repository's lock, and say what happened. */
import { checkName } from '../../core/names.js';
import type { Runtime } from '../../runtime.js';
import { summaryText, warningLines, type RunReport } from '../../sources/core/records.js';
import { getDefinition, locked } from '../../sources/repo.js';
import type { SyncResult } from '../sync/plan.js';
import { openSourceRepo, sourceIo } from './context.js';

const syncLine = (s: SyncResult) => `published ${s.hub}/${s.date} as ${s.operator}: ${s.commit.slice(0, 12)}, ${s.files} files, advertisement ${s.advertised}`;

function reportJson(r: RunReport) {
  return { ...r.counts(), warnings: r.warnings(), errors: r.errors, cursor: r.cursor ?? null };
}

function printWarnings(rt: Runtime, name: string, r: RunReport): void {
  for (const line of warningLines(r)) rt.out.warn(`source ${name}: ${line}`);
}

export async function pullCommand(rt: Runtime, o: { name: string; full?: boolean; dryRun?: boolean; sync?: boolean }): Promise<void> {
  const name = checkName('source', o.name);
  const { pullSource } = await import('../../sources/pull.js');
  const repo = await openSourceRepo(rt);
  const def = getDefinition(repo.top, name);
  const options = { full: o.full, dryRun: o.dryRun, sync: o.sync };
  const io = sourceIo(rt);
  const r = await locked(io, repo, `source pull of ${name}`, () => pullSource(io, repo, name, def, options));
  if (options.sync && !options.dryRun) {
    const { sync } = await import('../sync/index.js');
    r.sync = await sync(rt, { hub: def.hub });
  }
  printWarnings(rt, name, r.report);
  const doing = r.dryRun ? 'dry run: nothing written' : r.committed ? `committed ${r.commit?.slice(0, 12)}` : 'nothing new: no commit';
  const json = { source: r.source, hub: r.hub, file: r.file, dryRun: r.dryRun, committed: r.committed, commit: r.commit ?? null, ...reportJson(r.report) };
  rt.out.result({ ...json, ...(r.sync ? { sync: r.sync } : {}) }, () =>
    summaryText(`pull ${name} -> ${r.file}: ${doing}`, r.report, r.sync ? [syncLine(r.sync as SyncResult)] : []),
  );
}

export async function pushCommand(rt: Runtime, o: { name: string; dryRun?: boolean }): Promise<void> {
  const name = checkName('source', o.name);
  const { pushSource } = await import('../../sources/push.js');
  const repo = await openSourceRepo(rt);
  const def = getDefinition(repo.top, name);
  const io = sourceIo(rt);
  const r = await locked(io, repo, `source push of ${name}`, () => pushSource(io, repo, name, def, { dryRun: o.dryRun }));
  printWarnings(rt, name, r.report);
  const doing = r.dryRun ? `dry run: ${r.report.pushed} record(s) would be sent` : r.committed ? `committed ${r.commit?.slice(0, 12)}` : 'no commit';
  rt.out.result(
    {
      source: r.source,
      hub: r.hub,
      file: r.file,
      dryRun: r.dryRun,
      committed: r.committed,
      commit: r.commit ?? null,
      pushedCommit: r.pushedCommit ?? null,
      ...reportJson(r.report),
    },
    () => summaryText(`push ${r.file} -> ${name}: ${doing}`, r.report),
  );
}
