/**
 * Hub charters (issue 13), pure: who maintains a hub, who validates its datasets and who may
 * publish to it, as a chain of signed versions (Radicle's identity documents: delegates and a
 * threshold; TUF's root role).
 *
 * - Version 1 takes effect with the signature of one of its own maintainers (its creator); the
 *   charter is created once (compare-and-swap on a missing key), so nobody can claim the hub again.
 * - Version N+1 names the hash of version N (`previous`) and takes effect only when `threshold`
 *   of version N's maintainers have signed it (the current maintainers decide, not the new ones).
 * - Every signature covers the canonical JSON of the whole document but `signatures` (unknown
 *   fields too: a later version may add fields), by the signer's operator key.
 */
import { createHash } from 'node:crypto';
import * as v from 'valibot';
import { isName } from './names.js';
import { canonicalJson, signText, verifyText } from './signing.js';
import { atLeast, checked, type Infer, integer, list, literal, maxItems, maxLength, oneOf, record, string } from './schema-kit.js';

/** Larger values are refused before parsing. */
export const MAX_CHARTER_BYTES = 64 * 1024;
export const MAX_MEMBERS = 64;

const name = v.pipe(string(), v.check(isName, 'not a valid name'));
const names = v.pipe(
  list(name),
  maxItems(MAX_MEMBERS),
  v.check((xs) => new Set(xs).size === xs.length, 'names a member twice'),
);
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/;

/** The fields syncer reads; unknown fields are kept (and signed) but not read. */
export const charterSchema = checked(
  v.pipe(
    v.object(
      {
        type: literal('syncer-charter'),
        schema: literal(1),
        hub: name,
        version: v.pipe(integer(), atLeast(1)),
        previous: v.optional(v.pipe(string(), v.regex(/^sha256:[0-9a-f]{64}$/, 'not sha256:<64 hex digits>'))),
        maintainers: v.pipe(names, v.minLength(1, 'expected at least one maintainer')),
        threshold: v.pipe(integer(), atLeast(1)),
        validators: names,
        validatorThreshold: v.optional(v.pipe(integer(), atLeast(1))),
        publishers: oneOf(['open', 'listed'] as const),
        publisherList: v.optional(names),
        description: v.optional(v.pipe(string(), maxLength(2000))),
        proposedBy: name,
        proposedAt: v.pipe(string(), v.regex(ISO, 'not a UTC date and time')),
        signatures: record(name, v.pipe(string(), maxLength(200))),
      },
      (issue) => `expected an object, received ${typeof issue.input}`,
    ),
    v.check((c) => c.threshold <= c.maintainers.length, 'threshold is more than the maintainers'),
    v.check((c) => (c.version === 1) === (c.previous === undefined), 'previous must be given exactly when version is above 1'),
    v.check(
      (c) => c.validatorThreshold === undefined || c.validatorThreshold <= c.validators.length,
      'validatorThreshold is more than the validators (or given without validators)',
    ),
    v.check((c) => (c.publishers === 'listed') === (c.publisherList !== undefined), 'publisherList must be given exactly when publishers is listed'),
  ),
);

export type Charter = Infer<typeof charterSchema>;

/** A charter as read: its fields, and the JSON it came from (what the signatures cover). */
export interface CharterDoc {
  charter: Charter;
  raw: Record<string, unknown>;
}

export type ParsedCharter = { ok: true; doc: CharterDoc } | { ok: false; problem: string };

export function parseCharter(text: string | Buffer, expect?: { hub: string; version?: number }): ParsedCharter {
  const size = typeof text === 'string' ? Buffer.byteLength(text) : text.length;
  if (size > MAX_CHARTER_BYTES) return { ok: false, problem: `value is ${size} bytes (limit ${MAX_CHARTER_BYTES})` };
  let json: unknown;
  try {
    json = JSON.parse(text.toString());
  } catch {
    return { ok: false, problem: 'value is not JSON' };
  }
  const parsed = charterSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, problem: `${issue.path.length ? `field ${issue.path.join('.')}: ` : ''}${issue.message}` };
  }
  const charter = parsed.data;
  if (expect && charter.hub !== expect.hub) return { ok: false, problem: `field hub "${charter.hub}" disagrees with its key` };
  if (expect?.version !== undefined && charter.version !== expect.version)
    return { ok: false, problem: `field version ${charter.version} disagrees with its key` };
  return { ok: true, doc: { charter, raw: json as Record<string, unknown> } };
}

/** What every signature of a charter covers. */
export const charterSigningText = (raw: Record<string, unknown>) => canonicalJson(raw, ['signatures']);

/** The hash the next version names as `previous`. */
export const charterHash = (raw: Record<string, unknown>) => `sha256:${createHash('sha256').update(charterSigningText(raw)).digest('hex')}`;

/** The keys whose signature counts for an operator (its current key, and earlier keys not revoked), or none. */
export type KeysOf = (operator: string) => readonly string[];

/** The members of `among` whose signature of `doc` verifies with one of their keys. */
export function validSigners(doc: CharterDoc, among: readonly string[], keysOf: KeysOf): string[] {
  const text = charterSigningText(doc.raw);
  const signatures = doc.charter.signatures;
  return among.filter((op) => {
    const sig = Object.hasOwn(signatures, op) ? signatures[op] : undefined;
    return sig !== undefined && keysOf(op).some((k) => verifyText(text, sig, k));
  });
}

/** Who must sign `doc` for it to take effect, and how many of them: version 1 its own maintainers (one), later the previous version's. */
export function signersNeeded(doc: CharterDoc, previous: CharterDoc | undefined): { among: readonly string[]; threshold: number } {
  if (!previous) return { among: doc.charter.maintainers, threshold: 1 };
  return { among: previous.charter.maintainers, threshold: previous.charter.threshold };
}

/** Why `doc` cannot follow `previous` (undefined when it may, signatures aside). */
export function successionProblem(doc: CharterDoc, previous: CharterDoc | undefined): string | undefined {
  const c = doc.charter;
  if (!previous) return c.version === 1 ? undefined : `version ${c.version} has no version ${c.version - 1} before it`;
  if (c.hub !== previous.charter.hub) return `version ${c.version} is for hub ${c.hub}, not ${previous.charter.hub}`;
  if (c.version !== previous.charter.version + 1) return `version ${c.version} does not follow version ${previous.charter.version}`;
  if (c.previous !== charterHash(previous.raw)) return `version ${c.version} does not name version ${previous.charter.version} as the one it replaces`;
  return undefined;
}

/** Why `doc` does not take effect after `previous`, or undefined when it does. */
export function charterProblem(doc: CharterDoc, previous: CharterDoc | undefined, keysOf: KeysOf): string | undefined {
  const succession = successionProblem(doc, previous);
  if (succession) return succession;
  const { among, threshold } = signersNeeded(doc, previous);
  const signers = validSigners(doc, among, keysOf);
  if (signers.length >= threshold) return undefined;
  const who = previous ? `maintainers of version ${previous.charter.version}` : 'its own maintainers';
  return (
    `version ${doc.charter.version} is signed by ${signers.length} of the ${threshold} ${who} it needs` +
    ` (${among.join(', ')}${signers.length ? `; valid signatures: ${signers.join(', ')}` : ''})`
  );
}

export interface ResolvedCharter {
  /** The newest version that takes effect; undefined when not even version 1 does. */
  current?: CharterDoc;
  /** Versions refused (each with why); the chain stops at the first. */
  problems: string[];
}

/** Walk the versions from 1: each must follow the one before and be signed as it requires. */
export function resolveCharter(docs: readonly CharterDoc[], keysOf: KeysOf): ResolvedCharter {
  const sorted = [...docs].sort((a, b) => a.charter.version - b.charter.version);
  let current: CharterDoc | undefined;
  const problems: string[] = [];
  for (const doc of sorted) {
    const problem = charterProblem(doc, current, keysOf);
    if (problem) {
      problems.push(problem);
      break;
    }
    current = doc;
  }
  if (problems.length && sorted.length > (current?.charter.version ?? 0) + 1) problems.push('later versions are not read');
  return { current, problems };
}

/** The fields a user sets (create, propose). */
export interface CharterFields {
  maintainers: string[];
  threshold: number;
  validators: string[];
  validatorThreshold?: number;
  publishers: 'open' | 'listed';
  publisherList?: string[];
  description?: string;
}

/** The unsigned document of the next version (1 when there is none) with these fields. */
export function draftCharter(hub: string, fields: CharterFields, previous: CharterDoc | undefined, by: string, now: Date): Record<string, unknown> {
  const doc: Record<string, unknown> = {
    type: 'syncer-charter',
    schema: 1,
    hub,
    version: previous ? previous.charter.version + 1 : 1,
    ...(previous ? { previous: charterHash(previous.raw) } : {}),
    maintainers: fields.maintainers,
    threshold: fields.threshold,
    validators: fields.validators,
    ...(fields.validatorThreshold !== undefined ? { validatorThreshold: fields.validatorThreshold } : {}),
    publishers: fields.publishers,
    ...(fields.publisherList ? { publisherList: fields.publisherList } : {}),
    ...(fields.description !== undefined ? { description: fields.description } : {}),
    proposedBy: by,
    proposedAt: now.toISOString(),
    signatures: {},
  };
  return doc;
}

/** `raw` with `operator`'s signature added (or replaced). */
export function signCharter(raw: Record<string, unknown>, operator: string, privateKeyPem: string): Record<string, unknown> {
  const signatures = { ...((raw.signatures as Record<string, string> | undefined) ?? {}) };
  signatures[operator] = signText(charterSigningText(raw), privateKeyPem);
  return { ...raw, signatures };
}

/** How many validators' votes decide a dataset (all of them unless the charter says). */
export const validatorThresholdOf = (c: Charter) => c.validatorThreshold ?? c.validators.length;

/** Whether `operator` may publish to the charter's hub. */
export const mayPublish = (c: Charter, operator: string) => c.publishers === 'open' || (c.publisherList ?? []).includes(operator);

/** The problems of a set of fields, as a user gave them (the first one), or undefined. */
export function fieldsProblem(f: CharterFields): string | undefined {
  if (f.maintainers.length === 0) return 'a charter needs at least one --maintainer';
  const dup = (xs: string[]) => xs.find((x, i) => xs.indexOf(x) !== i);
  for (const [flag, xs] of [
    ['--maintainer', f.maintainers],
    ['--validator', f.validators],
    ['--publisher', f.publisherList ?? []],
  ] as const) {
    const d = dup(xs);
    if (d) return `${flag} ${d} is given twice`;
    if (xs.length > MAX_MEMBERS) return `at most ${MAX_MEMBERS} of ${flag}`;
  }
  if (!Number.isInteger(f.threshold) || f.threshold < 1 || f.threshold > f.maintainers.length)
    return `--threshold must be from 1 to the number of maintainers (${f.maintainers.length}), not ${f.threshold}`;
  if (f.validatorThreshold !== undefined) {
    if (f.validators.length === 0) return '--validator-threshold needs --validator';
    if (!Number.isInteger(f.validatorThreshold) || f.validatorThreshold < 1 || f.validatorThreshold > f.validators.length)
      return `--validator-threshold must be from 1 to the number of validators (${f.validators.length}), not ${f.validatorThreshold}`;
  }
  if (f.publishers === 'listed' && !(f.publisherList ?? []).length) return '--publishers listed needs at least one --publisher';
  if (f.publishers === 'open' && f.publisherList?.length) return '--publisher lists publishers: it needs --publishers listed (or no --publishers)';
  if (f.description !== undefined && f.description.length > 2000) return '--description is longer than 2,000 characters';
  return undefined;
}

/** The fields of a charter (for a proposal that changes some of them). */
export function fieldsOf(c: Charter): CharterFields {
  return {
    maintainers: c.maintainers,
    threshold: c.threshold,
    validators: c.validators,
    validatorThreshold: c.validatorThreshold,
    publishers: c.publishers,
    publisherList: c.publisherList,
    description: c.description,
  };
}
