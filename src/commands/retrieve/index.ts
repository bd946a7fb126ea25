/**
 * syncer retrieve: pick hub, date and operator (flags, or the original tool's prompts), then put a
 * verified, detached, sparse checkout of the advertised commit at the target.
 */
import { join, resolve } from 'node:path';
import { SyncerError, usageError, verifyError } from '../../errors.js';
import { Verifier } from '../../verifier.js';
import { checkDate, checkName } from '../../core/names.js';
import { escapeControl } from '../../core/sanitize.js';
import type { Advertisement } from '../../core/advertisement.js';
import type { Registry } from '../../adapters/registry.js';
import type { Runtime } from '../../runtime.js';
import { latestDate } from './plan.js';
import { materialize } from './checkout.js';

export interface RetrieveOptions {
  hub?: string;
  date?: string;
  operator?: string;
  into?: string;
  force?: boolean;
  allowUnsigned?: boolean;
  acceptKey?: boolean;
}

export interface RetrieveResult {
  hub: string;
  date: string;
  operator: string;
  commit: string;
  target: string;
  dataPath: string;
  updated: boolean;
}

async function chooseHub(rt: Runtime, registry: Registry): Promise<string> {
  const hubs = await registry.listHubs();
  if (hubs.length === 0) throw usageError('no datasets are advertised in the registry yet');
  return rt.prompter.select(
    'Which hub are you interested in?',
    hubs.map((h) => ({ name: h.hub, value: h.hub, description: `latest ${h.latestDate}, ${h.dates} date(s)` })),
  );
}

async function chooseDate(rt: Runtime, registry: Registry, hub: string, operator: string | undefined, wanted: string | undefined): Promise<string> {
  if (wanted !== undefined && wanted !== 'latest') return checkDate(wanted);
  const dates = await registry.listDates(hub);
  if (wanted === 'latest') {
    const date = latestDate(dates, operator);
    if (!date) throw usageError(`no advertisement for hub ${hub}${operator ? ` by ${operator}` : ''}`);
    return date;
  }
  const offered = dates.filter((d) => !operator || d.operators.includes(operator));
  if (offered.length === 0) throw usageError(`no advertisement for hub ${hub}${operator ? ` by ${operator}` : ''}`);
  return rt.prompter.select(
    `Datasets for ${hub}, newest first:`,
    offered.map((d) => ({ name: `${d.date}  (${d.operators.length} operator${d.operators.length === 1 ? '' : 's'})`, value: d.date })),
  );
}

async function chooseEntry(rt: Runtime, registry: Registry, hub: string, date: string, operator: string | undefined): Promise<Advertisement> {
  if (operator) {
    const ad = await registry.getAdvertisement({ hub, date, operator });
    if (!ad) throw usageError(`no advertisement for ${hub}/${date} by ${operator}`, `see what exists: syncer ls ${hub} ${date}`);
    return ad;
  }
  const entries = await registry.listEntries(hub, date);
  if (entries.length === 0) throw usageError(`no advertisement for ${hub} on ${date}`, `see what exists: syncer ls ${hub}`);
  if (entries.length === 1) return entries[0]!;
  if (!rt.canPrompt) {
    throw usageError(`${entries.length} operators have ${hub}/${date}: ${entries.map((e) => e.operator).join(', ')}`, 'pick one with --operator');
  }
  return rt.prompter.select(
    `Operators with ${hub} on ${date}:`,
    entries.map((e) => ({ name: `${e.operator}  ${e.commit.slice(0, 12)}  ${e.syncedAt}`, value: e, description: escapeControl(e.message) })),
  );
}

export async function retrieve(rt: Runtime, options: RetrieveOptions): Promise<RetrieveResult> {
  if (options.hub !== undefined) checkName('hub', options.hub);
  if (options.operator !== undefined) checkName('operator', options.operator);
  if (options.date !== undefined && options.date !== 'latest') checkDate(options.date);
  const importDir = rt.config.importDir;
  if (!options.into && !importDir) throw usageError('no import directory configured', 'pass --into DIR, or set importDir (syncer config set importDir DIR)');

  if (!rt.canPrompt) {
    // Name every missing flag before touching the network.
    const missing = [options.hub === undefined && '--hub', options.date === undefined && '--date'].filter(Boolean);
    if (missing.length) throw usageError(`missing ${missing.join(' and ')}`, `pass ${missing.join(' and ')} (no prompt without a TTY, with --no-input, or with CI set); --date latest picks the newest`);
  }
  const registry = await rt.registry();
  const hub = await rt.need(options.hub, '--hub', () => chooseHub(rt, registry));
  // Interactive runs choose the date from a list; scripts must say which (or "latest").
  const date = await chooseDate(rt, registry, hub, options.operator, options.date);
  const ad = await chooseEntry(rt, registry, hub, date, options.operator);
  const problem = await new Verifier(rt, registry, options).problem(ad);
  if (problem) {
    throw verifyError(`refusing ${ad.hub}/${ad.date}/${ad.operator}: ${escapeControl(problem)}`, 'check with the operator; --accept-key trusts a changed key, --allow-unsigned an unsigned entry');
  }
  const resolvedTarget = options.into ? resolve(rt.deps.cwd, options.into) : join(importDir!, ad.hub, ad.date, ad.operator);

  if (rt.canPrompt && !rt.flags.yes) {
    rt.out.info(`\n  ${ad.hub}/${ad.date} by ${ad.operator}\n  commit    ${ad.commit}\n  synced    ${ad.syncedAt}\n  files     ${ad.files} (${ad.bytes} bytes)\n  message   ${escapeControl(ad.message)}\n  into      ${resolvedTarget}\n`);
    if (!(await rt.confirm('Retrieve it?'))) throw new SyncerError('INTERRUPTED', 'cancelled; nothing was changed');
  }
  const { updated } = await materialize(rt, ad, resolvedTarget, !!options.force);
  return { hub: ad.hub, date: ad.date, operator: ad.operator, commit: ad.commit, target: resolvedTarget, dataPath: join(resolvedTarget, ad.path), updated };
}

export async function run(rt: Runtime, options: RetrieveOptions): Promise<void> {
  const r = await retrieve(rt, options);
  rt.out.result(r, () => `${r.updated ? 'updated' : 'retrieved'} ${r.hub}/${r.date} from ${r.operator} at ${r.commit.slice(0, 12)}\ndata: ${r.dataPath}`);
}
