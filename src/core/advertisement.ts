/**
 * The advertisement: what an operator publishes for one hub and date (docs/how-it-works.md). Everything read
 * from the registry or a tag message goes through `parseAdvertisement`, which rejects anything that
 * is not exactly what a well-behaved syncer writes.
 */
import * as v from 'valibot';
import { isDate, isName, datasetPathProblem } from './names.js';
import { checkRemoteUrl, DEFAULT_TRANSPORTS } from './remote-url.js';
import { tagName, type DatasetId } from './keys.js';
import { advertisementSigningText, isPublicKey } from './signing.js';
import { atLeast, checked, type Infer, integer, list, literal, maxItems, maxLength, minLength, record, string, strict } from './schema-kit.js';
import { metaSchema } from './meta.js';
import { openObject, unknownFields } from './meta-fields.js';

/** Larger values are refused before parsing: nothing legitimate comes close. */
export const MAX_ADVERTISEMENT_BYTES = 64 * 1024;
/** An operator record carries, per rotation, the entries its old key may still vouch for. */
export const MAX_RECORD_BYTES = 1024 * 1024;

const name = v.pipe(string(), v.check(isName, 'not a valid name'));
const safeText = (max: number) => v.pipe(string(), maxLength(max));
/** Calendar dates, leap days included, and a time with seconds, then Z or an offset (what `toISOString()` writes). */
const LEAP_DAY = String.raw`(?:\d\d[2468][048]|\d\d[13579][26]|\d\d0[48]|[02468][048]00|[13579][26]00)-02-29`;
const OTHER_DAY = String.raw`\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\d|30)|(?:02)-(?:0[1-9]|1\d|2[0-8]))`;
const TIME = String.raw`(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|([+-](?:[01]\d|2[0-3]):[0-5]\d))`;
const DATE_TIME = new RegExp(`^(?:${LEAP_DAY}|${OTHER_DAY})T(?:${TIME})$`);
const dateTime = v.pipe(string(), v.regex(DATE_TIME, 'not a date and time (YYYY-MM-DDTHH:MM:SS, then Z or an offset)'));
const count = integer();

const advertisementEntries = {
  schema: literal(1),
  hub: name,
  date: v.pipe(string(), v.check(isDate, 'not a YYYY-MM-DD date')),
  operator: name,
  remote: safeText(2048),
  branch: v.pipe(
    string(),
    minLength(1),
    maxLength(255),
    v.check((b) => !b.startsWith('-') && /^[A-Za-z0-9._/-]+$/.test(b) && !b.includes('..'), 'not a safe branch name'),
  ),
  commit: v.pipe(string(), v.regex(/^[0-9a-f]{40}$/, 'not a full 40-hex commit id')),
  tag: safeText(200),
  path: v.pipe(
    string(),
    v.check((p) => datasetPathProblem(p) === undefined, 'not a safe relative path'),
  ),
  files: v.pipe(count, atLeast(0)),
  bytes: v.pipe(count, atLeast(0)),
  message: safeText(4096),
  syncedAt: dateTime,
  runId: v.pipe(string(), minLength(1), maxLength(100)),
  /** A summary of the dataset's datapackage.json (core/meta.ts); signed like every other field. */
  meta: v.optional(metaSchema),
  signature: v.optional(safeText(1024)),
};
/** Known fields checked strictly; unknown ones (a later syncer's) kept, signed and bounded (core/meta-fields.ts). */
export const advertisementSchema = checked(openObject(advertisementEntries, strict(advertisementEntries)));

export type Advertisement = Infer<typeof advertisementSchema>;

export interface ParseOptions {
  /** The key the value was read from: every field must agree with it. */
  expect?: DatasetId;
  transports?: readonly string[];
}

export type ParseResult = { ok: true; ad: Advertisement } | { ok: false; problem: string };

export function parseAdvertisement(raw: string | Buffer, options: ParseOptions = {}): ParseResult {
  const size = typeof raw === 'string' ? Buffer.byteLength(raw) : raw.length;
  if (size > MAX_ADVERTISEMENT_BYTES) return { ok: false, problem: `value is ${size} bytes (limit ${MAX_ADVERTISEMENT_BYTES})` };
  let json: unknown;
  try {
    json = JSON.parse(raw.toString());
  } catch {
    return { ok: false, problem: 'value is not JSON' };
  }
  const parsed = advertisementSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, problem: `field ${issue.path.join('.') || '(value)'}: ${issue.message}` };
  }
  const ad = parsed.data;
  const { expect } = options;
  if (expect) {
    for (const field of ['hub', 'date', 'operator'] as const) {
      if (ad[field] !== expect[field]) return { ok: false, problem: `field ${field} "${ad[field]}" disagrees with its key` };
    }
  }
  if (ad.tag !== tagName(ad.hub, ad.date)) return { ok: false, problem: `tag is not ${tagName(ad.hub, ad.date)}` };
  const remote = checkRemoteUrl(ad.remote, options.transports ?? DEFAULT_TRANSPORTS);
  if (!remote.ok) return { ok: false, problem: remote.problem! };
  return { ok: true, ad };
}

/**
 * Why an annotated tag's message does not carry `ad` (every signed field equal; the tag's remote is
 * where it was pushed, maybe not where peers clone from, so it is not compared), or undefined.
 */
export function tagMessageProblem(message: string, ad: Advertisement): string | undefined {
  const parsed = parseAdvertisement(message.trim(), { expect: ad, transports: ['https', 'http', 'ssh', 'git', 'file'] });
  if (!parsed.ok) return `the tag's advertisement is refused (${parsed.problem})`;
  if (advertisementSigningText(parsed.ad) !== advertisementSigningText(ad)) return "the tag's advertisement differs from the registry's";
  return undefined;
}

/**
 * Stable serialisation: fixed field order, so the same advertisement is always the same bytes; then
 * the fields this version does not know, as read (they are signed: dropping one would break the signature).
 */
export function serializeAdvertisement(ad: Advertisement): string {
  const ordered: Record<string, unknown> = {};
  for (const key of [...Object.keys(advertisementEntries), ...unknownFields(ad, advertisementEntries)]) {
    const v = (ad as Record<string, unknown>)[key];
    if (v !== undefined) ordered[key] = v;
  }
  return JSON.stringify(ordered);
}

/** Which of two advertisements of the same key is newer (never replace a newer one). */
export function isNewer(a: Pick<Advertisement, 'syncedAt'>, b: Pick<Advertisement, 'syncedAt'>): boolean {
  return Date.parse(a.syncedAt) > Date.parse(b.syncedAt);
}

const publicKey = v.pipe(string(), v.check(isPublicKey, 'not an ed25519 public key'));

/** "<hub>/<date>" -> the first 20 hex digits of the commit the old key advertised there. */
const sealedSchema = record(safeText(200), v.pipe(string(), v.regex(/^[0-9a-f]{20}$/, 'not 20 hex digits of a commit id')));

export const rotationSchema = checked(
  strict({
    from: publicKey,
    to: publicKey,
    at: dateTime,
    signature: safeText(200),
    /**
     * What the old key had advertised when it was retired, covered by the new key's signature of
     * the record: the old key vouches for exactly these entries and nothing else, whatever an
     * entry claims about its own time (the holder of an old key controls that claim).
     */
    sealed: v.optional(sealedSchema),
    /**
     * A seal too large for the record: the sha256 (hex) of its canonical JSON and its number of
     * entries, covered by the new key's signature; the seal itself is in pages under
     * `<ns>seals/<operator>/<digest>/` and in `.syncer/seals/<digest>.json` of the repository.
     */
    sealDigest: v.optional(v.pipe(string(), v.regex(/^[0-9a-f]{64}$/, 'not a sha256 in hex'))),
    sealCount: v.optional(v.pipe(count, atLeast(0))),
    /** Retired because compromised: nothing it signed is trusted (the operator re-signs what stays). */
    revoked: v.optional(literal(true)),
  }),
);

/** `<ns>operators/<op>` and `.syncer/operator.json`: signed by its current key. */
export const operatorRecordSchema = checked(
  strict({
    operator: name,
    remote: safeText(2048),
    publicKey: v.optional(publicKey),
    registeredAt: dateTime,
    rotations: v.optional(v.pipe(list(rotationSchema), maxItems(64, 'expected at most 64 rotations'))),
    signature: v.optional(safeText(200)),
  }),
);

export type OperatorRecord = Infer<typeof operatorRecordSchema>;
export type Rotation = Infer<typeof rotationSchema>;
