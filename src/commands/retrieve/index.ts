/**
 * syncer retrieve: pick hub, date and operator (flags, or the original tool's prompts), then put a
 * verified, detached, sparse checkout of the advertised commit at the target.
 */
import { lstatSync, readlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { SyncerError, usageError, verifyError } from '../../errors.js';
import { refusedHint, Verifier } from '../../verifier.js';
import { checkDate, checkName } from '../../core/names.js';
import { escapeControl } from '../../core/sanitize.js';
import type { Advertisement } from '../../core/advertisement.js';
import type { Registry, Skipped } from '../../adapters/registry.js';
import type { Runtime } from '../../runtime.js';
import { datesOf, latestDate } from './plan.js';
import { materialize } from './checkout.js';
import type { ContentPolicy } from './fetch.js';
import { contentLimits } from '../../core/dataset-contents.js';

export interface RetrieveOptions {
  hub?: string;
  date?: string;
  operator?: string;
  into?: string;
  force?: boolean;
  allowUnsigned?: boolean;
  acceptKey?: boolean;
  /** Take a dataset whose symbolic links lead out of it (refused by default: a reader would read this machine's files). */
  allowSymlinks?: boolean;
  /** Update an existing checkout to an older advertisement of the same hub/date/operator. */
  allowOlder?: boolean;
  /** Only a dataset its hub's validators accepted (the Verifier refuses the others). */
  accepted?: boolean;
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

/**
 * The date to retrieve: as given, or the newest (or a chosen one) among the hub's advertisements
 * that verify, so that an entry that does not parse or verify never hides older good data.
 */
async function chooseDate(
  rt: Runtime,
  registry: Registry,
  verifier: Verifier,
  hub: string,
  operator: string | undefined,
  wanted: string | undefined,
): Promise<{ date: string; verified?: Advertisement[] }> {
  if (wanted !== undefined && wanted !== 'latest') return { date: checkDate(wanted) };
  const skipped: Skipped[] = [];
  const all = (await registry.listHubEntries(hub, skipped)).filter((ad) => !operator || ad.operator === operator);
  const { ok, refused } = await verifier.usable(all);
  const dates = datesOf(ok);
  const mine = skipped.filter((s) => !operator || s.operator === operator);
  const problems = [...mine.map((s) => s.problem), ...refused.map((r) => `${r.ad.hub}/${r.ad.date}/${r.ad.operator}: ${escapeControl(r.problem)}`)];
  const none = () =>
    (all.length > 0 || mine.length > 0) && ok.length === 0
      ? verifyError(
          `refusing every advertisement for hub ${hub}${operator ? ` by ${operator}` : ''}: ` +
            `${problems.slice(0, 3).join('; ')}${problems.length > 3 ? '; ...' : ''}`,
          refusedHint(problems),
        )
      : usageError(`no advertisement for hub ${hub}${operator ? ` by ${operator}` : ''}`, 'see what exists: syncer ls');
  let date: string | undefined;
  if (wanted === 'latest') date = latestDate(dates, operator);
  else if (dates.length > 0) {
    date = await rt.prompter.select(
      `Datasets for ${hub}, newest first:`,
      dates.map((d) => ({ name: `${d.date}  (${d.operators.length} operator${d.operators.length === 1 ? '' : 's'})`, value: d.date })),
    );
  }
  if (!date) throw none();
  return { date, verified: ok.filter((ad) => ad.date === date) };
}

/** The entry to retrieve; `verified`: the date's entries already listed and verified by chooseDate. */
async function chooseEntry(
  rt: Runtime,
  registry: Registry,
  verifier: Verifier,
  hub: string,
  date: string,
  operator: string | undefined,
  verified?: Advertisement[],
): Promise<Advertisement> {
  if (verified && operator) return verified.find((ad) => ad.operator === operator)!;
  if (operator) {
    const ad = await registry.getAdvertisement({ hub, date, operator });
    if (!ad) throw usageError(`no advertisement for ${hub}/${date} by ${operator}`, `see what exists: syncer ls ${hub} ${date}`);
    const problem = await verifier.problem(ad);
    if (problem) throw verifyError(`refusing ${ad.hub}/${ad.date}/${ad.operator}: ${escapeControl(problem)}`, refusedHint([problem]));
    return ad;
  }
  const skipped: Skipped[] = [];
  const { ok: entries, refused } = verified ? { ok: verified, refused: [] } : await verifier.usable(await registry.listEntries(hub, date, skipped));
  if (entries.length === 0 && refused.length + skipped.length > 0) {
    const problems = [...skipped.map((s) => s.problem), ...refused.map((r) => `${hub}/${date}/${r.ad.operator}: ${escapeControl(r.problem)}`)];
    throw verifyError(`refusing ${problems.join('; ')}`, refusedHint(problems));
  }
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
  // Limits from the environment are checked before the network: a bad value is exit 2 at once.
  const policy: ContentPolicy = { allowSymlinks: !!options.allowSymlinks, limits: contentLimits(rt.config) };
  if (!options.into && !importDir) throw usageError('no import directory configured', 'pass --into DIR, or set importDir (syncer config set importDir DIR)');

  if (!rt.canPrompt) {
    // Name every missing flag before touching the network.
    const missing = [options.hub === undefined && '--hub', options.date === undefined && '--date'].filter(Boolean);
    if (missing.length)
      throw usageError(
        `missing ${missing.join(' and ')}`,
        `pass ${missing.join(' and ')} (no prompt without a TTY, with --no-input, or with CI set); --date latest picks the newest`,
      );
  }
  // The prompts' library loads while the registry answers: the first question comes sooner.
  if (rt.canPrompt && (options.hub === undefined || options.date === undefined || options.operator === undefined)) rt.prompter.warm?.();
  const registry = await rt.registry();
  const hub = await rt.need(options.hub, '--hub', () => chooseHub(rt, registry));
  // Interactive runs choose the date from a list; scripts must say which (or "latest").
  const verifier = new Verifier(rt, registry, options);
  const { date, verified } = await chooseDate(rt, registry, verifier, hub, options.operator, options.date);
  const ad = await chooseEntry(rt, registry, verifier, hub, date, options.operator, verified);
  const resolvedTarget = options.into ? resolve(rt.deps.cwd, options.into) : join(importDir!, ad.hub, ad.date, ad.operator);

  if (rt.canPrompt && !rt.flags.yes) {
    rt.out.info(
      `\n  ${ad.hub}/${ad.date} by ${ad.operator}\n  commit    ${ad.commit}\n  synced    ${ad.syncedAt}\n  files     ${ad.files} (${ad.bytes} ` +
        `bytes)\n  message   ${escapeControl(ad.message)}\n  into      ${resolvedTarget}\n`,
    );
    if (!(await rt.confirm('Retrieve it?'))) throw new SyncerError('INTERRUPTED', 'cancelled; nothing was changed');
  }
  const { updated } = await materialize(rt, ad, resolvedTarget, { force: !!options.force, policy, allowOlder: !!options.allowOlder });
  // Never report a data path that does not exist: a dataset committed as a symbolic link (older
  // syncers published those) or as a file holds no data here.
  const dataPath = join(resolvedTarget, ad.path);
  const st = (() => {
    try {
      return lstatSync(dataPath);
    } catch {
      return undefined;
    }
  })();
  if (!st?.isDirectory()) {
    const what = !st
      ? 'is not a directory in the commit (a symbolic link or a file?)'
      : st.isSymbolicLink()
        ? `is a symbolic link (to ${escapeControl(readlinkSync(dataPath))}), not a directory`
        : 'is not a directory';
    throw verifyError(
      `retrieved ${ad.hub}/${ad.date} from ${ad.operator} into ${resolvedTarget}, but its dataset ${ad.path} ${what}: there is no data to use`,
      `ask ${ad.operator} to sync the directory itself (syncer sync refuses links now)`,
    );
  }
  return { hub: ad.hub, date: ad.date, operator: ad.operator, commit: ad.commit, target: resolvedTarget, dataPath, updated };
}

export async function run(rt: Runtime, options: RetrieveOptions): Promise<void> {
  const r = await retrieve(rt, options);
  rt.out.result(r, () => `${r.updated ? 'updated' : 'retrieved'} ${r.hub}/${r.date} from ${r.operator} at ${r.commit.slice(0, 12)}\ndata: ${r.dataPath}`);
}
