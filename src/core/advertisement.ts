/**
 * The advertisement: what an operator publishes for one hub and date (docs/how-it-works.md). Everything read
 * from the registry or a tag message goes through `parseAdvertisement`, which rejects anything that
 * is not exactly what a well-behaved syncer writes.
 */
import { z } from 'zod';
import { isDate, isName, datasetPathProblem } from './names.js';
import { checkRemoteUrl, DEFAULT_TRANSPORTS } from './remote-url.js';
import { tagName, type DatasetId } from './keys.js';
import { advertisementSigningText, isPublicKey } from './signing.js';

/** Larger values are refused before parsing: nothing legitimate comes close. */
export const MAX_ADVERTISEMENT_BYTES = 64 * 1024;
/** An operator record carries, per rotation, the entries its old key may still vouch for. */
export const MAX_RECORD_BYTES = 1024 * 1024;

const name = z.string().refine(isName, 'not a valid name');
const safeText = (max: number) => z.string().max(max);

export const advertisementSchema = z
  .object({
    schema: z.literal(1),
    hub: name,
    date: z.string().refine(isDate, 'not a YYYY-MM-DD date'),
    operator: name,
    remote: z.string().max(2048),
    branch: z
      .string()
      .min(1)
      .max(255)
      .refine((b) => !b.startsWith('-') && /^[A-Za-z0-9._/-]+$/.test(b) && !b.includes('..'), 'not a safe branch name'),
    commit: z.string().regex(/^[0-9a-f]{40}$/, 'not a full 40-hex commit id'),
    tag: z.string().max(200),
    path: z.string().refine((p) => datasetPathProblem(p) === undefined, 'not a safe relative path'),
    files: z.number().int().nonnegative(),
    bytes: z.number().int().nonnegative(),
    message: safeText(4096),
    syncedAt: z.string().datetime({ offset: true }),
    runId: z.string().min(1).max(100),
    signature: z.string().max(1024).optional(),
  })
  .strict();

export type Advertisement = z.infer<typeof advertisementSchema>;

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

/** Stable serialisation: fixed field order, so the same advertisement is always the same bytes. */
export function serializeAdvertisement(ad: Advertisement): string {
  const ordered: Record<string, unknown> = {};
  for (const key of Object.keys(advertisementSchema.shape)) {
    const v = (ad as Record<string, unknown>)[key];
    if (v !== undefined) ordered[key] = v;
  }
  return JSON.stringify(ordered);
}

/** Which of two advertisements of the same key is newer (never replace a newer one). */
export function isNewer(a: Pick<Advertisement, 'syncedAt'>, b: Pick<Advertisement, 'syncedAt'>): boolean {
  return Date.parse(a.syncedAt) > Date.parse(b.syncedAt);
}

const publicKey = z.string().refine(isPublicKey, 'not an ed25519 public key');

/** "<hub>/<date>" -> the first 20 hex digits of the commit the old key advertised there. */
const sealedSchema = z.record(z.string().max(200), z.string().regex(/^[0-9a-f]{20}$/));

export const rotationSchema = z
  .object({
    from: publicKey,
    to: publicKey,
    at: z.string().datetime({ offset: true }),
    signature: z.string().max(200),
    /**
     * What the old key had advertised when it was retired, covered by the new key's signature of
     * the record: the old key vouches for exactly these entries and nothing else, whatever an
     * entry claims about its own time (the holder of an old key controls that claim).
     */
    sealed: sealedSchema.optional(),
    /** Retired because compromised: nothing it signed is trusted (the operator re-signs what stays). */
    revoked: z.literal(true).optional(),
  })
  .strict();

/** `<ns>operators/<op>` and `.syncer/operator.json`: signed by its current key. */
export const operatorRecordSchema = z
  .object({
    operator: name,
    remote: z.string().max(2048),
    publicKey: publicKey.optional(),
    registeredAt: z.string().datetime({ offset: true }),
    rotations: z.array(rotationSchema).max(64).optional(),
    signature: z.string().max(200).optional(),
  })
  .strict();

export type OperatorRecord = z.infer<typeof operatorRecordSchema>;
export type Rotation = z.infer<typeof rotationSchema>;
