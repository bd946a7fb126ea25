/**
 * syncer hub create|show|propose|approve (issue 13): a hub's charter, a chain of versions signed
 * by its maintainers (core/charter.ts), in `<ns>hubs/<hub>/charter/<version>` (create-only) with
 * the next version gathering signatures in `<ns>hubs/<hub>/proposal`.
 */
import { SyncerError, usageError, verifyError } from '../../errors.js';
import {
  type Charter,
  type CharterDoc,
  type CharterFields,
  draftCharter,
  fieldsOf,
  fieldsProblem,
  parseCharter,
  signCharter,
  successionProblem,
  validSigners,
  validatorThresholdOf,
} from '../../core/charter.js';
import { checkName } from '../../core/names.js';
import { escapeControl } from '../../core/sanitize.js';
import { fingerprint, type KeyPair } from '../../core/signing.js';
import type { Registry } from '../../adapters/registry.js';
import type { HubCharter } from '../../hub-rules.js';
import type { Runtime } from '../../runtime.js';
import { Verifier } from '../../verifier.js';
import { recordCharter } from './record.js';

/** The charter fields as given on the command line (absent: keep, or the default). */
export interface FieldFlags {
  maintainers: string[];
  threshold?: number;
  validators: string[];
  clearValidators: boolean;
  validatorThreshold?: number;
  publishers?: 'open' | 'listed';
  publisherList: string[];
  description?: string;
}

export type HubOptions =
  | { action: 'create'; hub: string; fields: FieldFlags }
  | { action: 'show'; hub: string }
  | { action: 'propose'; hub: string; fields: FieldFlags; replace?: boolean }
  | { action: 'approve'; hub: string; version?: number };

/** The charter as shown (`hub show --json`, and the result of the other actions). */
export interface CharterView {
  hub: string;
  version: number;
  maintainers: string[];
  threshold: number;
  validators: string[];
  validatorThreshold: number;
  publishers: 'open' | 'listed';
  publisherList?: string[];
  description?: string;
  signedBy: string[];
  proposedBy: string;
  proposedAt: string;
}

/** Merge the flags into `base` (undefined: a new charter, with the defaults). */
export function mergeFields(flags: FieldFlags, base: CharterFields | undefined): CharterFields {
  const maintainers = flags.maintainers.length ? flags.maintainers : (base?.maintainers ?? []);
  const validatorsGiven = flags.validators.length > 0 || flags.clearValidators;
  const validators = validatorsGiven ? flags.validators : (base?.validators ?? []);
  const publishers = flags.publishers ?? (flags.publisherList.length ? 'listed' : (base?.publishers ?? 'open'));
  const publisherList = publishers === 'open' ? undefined : flags.publisherList.length ? flags.publisherList : base?.publisherList;
  const threshold = flags.threshold ?? base?.threshold ?? 1;
  return {
    maintainers,
    threshold,
    validators,
    validatorThreshold: flags.validatorThreshold ?? (validatorsGiven ? undefined : base?.validatorThreshold),
    publishers,
    ...(publisherList ? { publisherList } : {}),
    ...((flags.description ?? base?.description) !== undefined ? { description: flags.description ?? base?.description } : {}),
  };
}

export function viewOf(doc: CharterDoc, signedBy: string[]): CharterView {
  const c = doc.charter;
  return {
    hub: c.hub,
    version: c.version,
    maintainers: c.maintainers,
    threshold: c.threshold,
    validators: c.validators,
    validatorThreshold: validatorThresholdOf(c),
    publishers: c.publishers,
    ...(c.publisherList ? { publisherList: c.publisherList } : {}),
    ...(c.description !== undefined ? { description: c.description } : {}),
    signedBy,
    proposedBy: c.proposedBy,
    proposedAt: c.proposedAt,
  };
}

function describeCharter(v: CharterView): string {
  const lines = [
    `hub          ${v.hub} (charter version ${v.version})`,
    `maintainers  ${v.maintainers.join(', ')} (${v.threshold} must sign a change)`,
    `validators   ${v.validators.length ? `${v.validators.join(', ')} (${v.validatorThreshold} decide)` : 'none: datasets are unreviewed'}`,
    `publishers   ${v.publishers === 'open' ? 'open: anyone may publish' : `listed: ${(v.publisherList ?? []).join(', ')}`}`,
  ];
  if (v.description !== undefined) lines.push(`description  ${escapeControl(v.description)}`);
  lines.push(`signed by    ${v.signedBy.join(', ')}`);
  return lines.join('\n');
}

/** This operator and its key, which the registry's record must hold (readers verify with it). */
async function signer(rt: Runtime, registry: Registry): Promise<{ operator: string; pair: KeyPair }> {
  const operator = rt.config.operator;
  if (!operator) throw usageError('no operator configured', 'run `syncer init`, or set SYNCER_OPERATOR');
  const pair = rt.keystore.load(operator);
  if (!pair) throw usageError(`no signing key for ${operator} at ${rt.keystore.keyFile(operator)}`, 'syncer init makes one');
  const entry = await registry.getOperatorEntry(operator);
  if (entry?.record?.publicKey !== pair.publicKey) {
    throw usageError(
      `the registry does not hold your key (${fingerprint(pair.publicKey)}) for operator ${operator}: peers could not check your signature`,
      'run syncer init (or syncer sync) first',
    );
  }
  // Our own key, checked against the registry just now, is no key trusted on first use.
  if (!rt.keystore.pinned(rt.trustScope, operator)) rt.keystore.pin(rt.trustScope, operator, pair.publicKey, rt.now(), 'own-key');
  return { operator, pair };
}

async function currentCharter(verifier: Verifier, hub: string): Promise<HubCharter & { current: CharterDoc }> {
  const charter = await verifier.hubs.charter(hub, true);
  if (charter.current) return charter as HubCharter & { current: CharterDoc };
  if (charter.stored === 0) throw usageError(`hub ${hub} has no charter`, `create one: syncer hub create ${hub} --maintainer OPERATOR ...`);
  throw verifyError(`refusing the charter of hub ${hub}: ${escapeControl(charter.problems.join('; '))}`);
}

function checkMaintainer(operator: string, c: Charter): void {
  if (!c.maintainers.includes(operator)) {
    throw usageError(`${operator} is not a maintainer of hub ${c.hub} (maintainers: ${c.maintainers.join(', ')})`, 'a maintainer must propose or approve');
  }
}

/** The proposal waiting for `hub`, if any, with the revision it was read at. */
async function readProposal(registry: Registry, hub: string): Promise<{ doc?: CharterDoc; problem?: string; modRevision: string } | undefined> {
  const kv = await registry.readCharterProposal(hub);
  if (!kv) return undefined;
  const parsed = parseCharter(kv.value, { hub });
  return parsed.ok ? { doc: parsed.doc, modRevision: kv.modRevision } : { problem: parsed.problem, modRevision: kv.modRevision };
}

async function create(rt: Runtime, hub: string, flags: FieldFlags): Promise<void> {
  if (flags.clearValidators) throw usageError('--no-validators is for hub propose (a new charter has no validators unless given)');
  const fields = mergeFields(flags, undefined);
  const problem = fieldsProblem(fields);
  if (problem) throw usageError(problem);
  const registry = await rt.registry();
  const { operator, pair } = await signer(rt, registry);
  if (!fields.maintainers.includes(operator)) {
    throw usageError(
      `you (${operator}) are not among the maintainers: the first version takes effect with its creator's signature`,
      `add --maintainer ${operator}`,
    );
  }
  const exists = () =>
    new SyncerError('USAGE', `hub ${hub} has a charter already`, { hint: `see it: syncer hub show ${hub}; change it: syncer hub propose ${hub} ...` });
  if ((await registry.listCharters(hub)).length > 0) throw exists();
  const raw = signCharter(draftCharter(hub, fields, undefined, operator, rt.now()), operator, pair.privateKeyPem);
  const text = JSON.stringify(raw);
  if (!(await registry.putCharter(hub, 1, text))) throw exists();
  const doc = (parseCharter(text, { hub, version: 1 }) as { ok: true; doc: CharterDoc }).doc;
  await recordCharter(rt, doc);
  const view = viewOf(doc, [operator]);
  rt.out.result(view, () => `created the charter of hub ${hub} (version 1)\n${describeCharter(view)}`);
}

async function show(rt: Runtime, hub: string): Promise<void> {
  const registry = await rt.registry();
  const verifier = new Verifier(rt, registry);
  const charter = await verifier.hubs.charter(hub);
  if (!charter.current) {
    if (charter.stored > 0) throw verifyError(`refusing the charter of hub ${hub}: ${escapeControl(charter.problems.join('; '))}`);
    rt.out.result({ hub, charter: null, proposal: null }, () => `hub ${hub} has no charter: anyone may publish, and nobody reviews its datasets`);
    return;
  }
  const current = charter.current;
  const keysOf = await verifier.hubs.keysFor([...current.charter.maintainers]);
  const view = viewOf(current, validSigners(current, current.charter.maintainers, keysOf));
  const proposal = await readProposal(registry, hub);
  let proposalView: (CharterView & { needed: number; signers: string[] }) | null = null;
  let proposalText = '';
  if (proposal?.doc && !successionProblem(proposal.doc, current)) {
    const signers = validSigners(proposal.doc, current.charter.maintainers, keysOf);
    proposalView = { ...viewOf(proposal.doc, signers), needed: current.charter.threshold, signers };
    proposalText =
      `\n\nproposed version ${proposalView.version} by ${proposalView.proposedBy}, signed by ${signers.length} of the ${current.charter.threshold} ` +
      `maintainers it needs (${signers.join(', ') || 'none'}); approve: syncer hub approve ${hub}\n${describeCharter(proposalView)}`;
  }
  rt.out.result({ hub, charter: view, proposal: proposalView }, () => describeCharter(view) + proposalText);
}

/** Write `raw` as the next version when its signers reach the threshold, else as the proposal. */
async function submit(
  rt: Runtime,
  registry: Registry,
  current: HubCharter & { current: CharterDoc },
  raw: Record<string, unknown>,
  proposalRevision: string | undefined,
  verifier: Verifier,
): Promise<{ doc: CharterDoc; signers: string[]; inEffect: boolean }> {
  const hub = current.current.charter.hub;
  const text = JSON.stringify(raw);
  const doc = (parseCharter(text, { hub }) as { ok: true; doc: CharterDoc }).doc;
  const keysOf = await verifier.hubs.keysFor(current.current.charter.maintainers);
  const signers = validSigners(doc, current.current.charter.maintainers, keysOf);
  const version = doc.charter.version;
  const changed = () =>
    new SyncerError('REGISTRY', `the charter of hub ${hub} or its proposal changed meanwhile; nothing was written`, { hint: 'run it again' });
  if (signers.length >= current.current.charter.threshold) {
    // A refused value stored at the next version's key (junk, or an under-signed write) is replaced.
    const refused = current.revisions.get(version);
    if (refused !== undefined) rt.out.warn(`replacing the refused version ${version} stored for hub ${hub}`);
    if (!(await registry.putCharter(hub, version, text, proposalRevision, refused))) throw changed();
    await recordCharter(rt, doc);
    return { doc, signers, inEffect: true };
  }
  if (!(await registry.putCharterProposal(hub, text, proposalRevision))) throw changed();
  return { doc, signers, inEffect: false };
}

async function propose(rt: Runtime, hub: string, flags: FieldFlags, replace: boolean): Promise<void> {
  const registry = await rt.registry();
  const verifier = new Verifier(rt, registry);
  const { operator, pair } = await signer(rt, registry);
  const current = await currentCharter(verifier, hub);
  checkMaintainer(operator, current.current.charter);
  const fields = mergeFields(flags, fieldsOf(current.current.charter));
  const problem = fieldsProblem(fields);
  if (problem) throw usageError(problem);
  const draft = draftCharter(hub, fields, current.current, operator, rt.now());
  const same = (d: Record<string, unknown>) => JSON.stringify({ ...d, proposedBy: 0, proposedAt: 0, previous: 0, version: 0 });
  if (same(draft) === same({ ...draftCharter(hub, fieldsOf(current.current.charter), current.current, operator, rt.now()) })) {
    throw usageError(`nothing changes in the charter of hub ${hub}`, 'give the fields to change: --maintainer, --threshold, --validator, ...');
  }
  const waiting = await readProposal(registry, hub);
  if (waiting?.doc && !successionProblem(waiting.doc, current.current) && !replace) {
    throw usageError(
      `a proposal for version ${waiting.doc.charter.version} of hub ${hub} by ${waiting.doc.charter.proposedBy} is waiting for approvals`,
      `see it: syncer hub show ${hub}; approve it: syncer hub approve ${hub}; or replace it: --replace`,
    );
  }
  const raw = signCharter(draft, operator, pair.privateKeyPem);
  const { doc, signers, inEffect } = await submit(rt, registry, current, raw, waiting?.modRevision, verifier);
  const view = { ...viewOf(doc, signers), inEffect };
  rt.out.result(view, () =>
    inEffect
      ? `version ${view.version} of the charter of hub ${hub} is in effect (signed by ${signers.join(', ')})\n${describeCharter(view)}`
      : `proposed version ${view.version} of the charter of hub ${hub}: signed by ${signers.length} of the ${current.current.charter.threshold} maintainers it ` +
        `needs; the others approve it with: syncer hub approve ${hub}\n${describeCharter(view)}`,
  );
}

async function approve(rt: Runtime, hub: string, expected: number | undefined): Promise<void> {
  const registry = await rt.registry();
  const verifier = new Verifier(rt, registry);
  const { operator, pair } = await signer(rt, registry);
  const current = await currentCharter(verifier, hub);
  checkMaintainer(operator, current.current.charter);
  const waiting = await readProposal(registry, hub);
  if (!waiting) throw usageError(`no proposal is waiting for hub ${hub}`, `propose one: syncer hub propose ${hub} ...`);
  if (!waiting.doc)
    throw verifyError(`refusing the proposal for hub ${hub}: ${escapeControl(waiting.problem!)}`, `replace it: syncer hub propose ${hub} ... --replace`);
  const stale = successionProblem(waiting.doc, current.current);
  if (stale) {
    throw usageError(
      `the proposal for hub ${hub} does not follow its charter (version ${current.current.charter.version}): ${stale}`,
      `replace it: syncer hub propose ${hub} ... --replace`,
    );
  }
  if (expected !== undefined && waiting.doc.charter.version !== expected) {
    throw usageError(`the proposal for hub ${hub} is version ${waiting.doc.charter.version}, not ${expected}`, `see it: syncer hub show ${hub}`);
  }
  const raw = signCharter(waiting.doc.raw, operator, pair.privateKeyPem);
  rt.out.info(`approving version ${waiting.doc.charter.version} of the charter of hub ${hub}:\n${describeCharter(viewOf(waiting.doc, []))}`);
  // On a terminal, what is signed is confirmed (a proposal can be replaced between hub show and here).
  if (rt.canPrompt && !rt.flags.yes && !(await rt.confirm('Sign it?'))) throw new SyncerError('INTERRUPTED', 'cancelled; nothing was signed');
  const { doc, signers, inEffect } = await submit(rt, registry, current, raw, waiting.modRevision, verifier);
  const view = { ...viewOf(doc, signers), inEffect };
  rt.out.result(view, () =>
    inEffect
      ? `version ${view.version} of the charter of hub ${hub} is in effect (signed by ${signers.join(', ')})`
      : `approved version ${view.version} of the charter of hub ${hub}: ${signers.length} of the ${current.current.charter.threshold} signatures it needs`,
  );
}

export async function run(rt: Runtime, options: HubOptions): Promise<void> {
  checkName('hub', options.hub);
  for (const [flag, names] of 'fields' in options
    ? ([
        ['--maintainer', options.fields.maintainers],
        ['--validator', options.fields.validators],
        ['--publisher', options.fields.publisherList],
      ] as const)
    : [])
    for (const n of names) checkName(flag.slice(2), n);
  if (options.action === 'create') return create(rt, options.hub, options.fields);
  if (options.action === 'show') return show(rt, options.hub);
  if (options.action === 'propose') return propose(rt, options.hub, options.fields, !!options.replace);
  return approve(rt, options.hub, options.version);
}
