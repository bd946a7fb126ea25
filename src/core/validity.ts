/**
 * Votes and the validity of a dataset (issue 13), pure.
 *
 * A vote is a verdict (valid or invalid) signed by its voter, bound to one advertised commit:
 * `<ns>votes/<hub>/<date>/<operator>/<voter>`. The validity of an advertisement:
 *
 * - `unreviewed`: its hub has no charter, or a charter without validators;
 * - else only the charter's validators count, each by their latest vote (by `votedAt`) for the
 *   advertised commit (a vote for a commit since replaced does not count); votes of others are
 *   kept but not counted;
 * - `rejected` when `validatorThreshold` of them said invalid (rejection wins), `accepted` when that
 *   many said valid, else `pending`.
 */
import * as v from 'valibot';
import { isDate, isName } from './names.js';
import { canonicalJson, signText } from './signing.js';
import { checked, type Infer, literal, maxLength, oneOf, string } from './schema-kit.js';
import { type Charter, validatorThresholdOf } from './charter.js';

export const MAX_VOTE_BYTES = 8 * 1024;
export const MAX_REASON = 2000;

const name = v.pipe(string(), v.check(isName, 'not a valid name'));
const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/;

export const voteSchema = checked(
  v.object(
    {
      type: literal('syncer-vote'),
      schema: literal(1),
      hub: name,
      date: v.pipe(string(), v.check(isDate, 'not a YYYY-MM-DD date')),
      operator: name,
      commit: v.pipe(string(), v.regex(/^[0-9a-f]{40}$/, 'not a full 40-hex commit id')),
      voter: name,
      verdict: oneOf(['valid', 'invalid'] as const),
      reason: v.optional(v.pipe(string(), maxLength(MAX_REASON))),
      votedAt: v.pipe(string(), v.regex(ISO, 'not a UTC date and time')),
      signature: v.pipe(string(), maxLength(200)),
    },
    (issue) => `expected an object, received ${typeof issue.input}`,
  ),
);

export type Vote = Infer<typeof voteSchema>;

export interface VoteDoc {
  vote: Vote;
  raw: Record<string, unknown>;
}

export type ParsedVote = { ok: true; doc: VoteDoc } | { ok: false; problem: string };

/** A vote read back; `expect`: the key it was read from (every field must agree with it). */
export function parseVote(text: string | Buffer, expect?: { hub: string; date: string; operator: string; voter: string }): ParsedVote {
  const size = typeof text === 'string' ? Buffer.byteLength(text) : text.length;
  if (size > MAX_VOTE_BYTES) return { ok: false, problem: `value is ${size} bytes (limit ${MAX_VOTE_BYTES})` };
  let json: unknown;
  try {
    json = JSON.parse(text.toString());
  } catch {
    return { ok: false, problem: 'value is not JSON' };
  }
  const parsed = voteSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, problem: `${issue.path.length ? `field ${issue.path.join('.')}: ` : ''}${issue.message}` };
  }
  const vote = parsed.data;
  if (expect) {
    for (const field of ['hub', 'date', 'operator', 'voter'] as const) {
      if (vote[field] !== expect[field]) return { ok: false, problem: `field ${field} "${vote[field]}" disagrees with its key` };
    }
  }
  return { ok: true, doc: { vote, raw: json as Record<string, unknown> } };
}

/** What a vote's signature covers: the whole document but `signature` (unknown fields too). */
export const voteSigningText = (raw: Record<string, unknown>) => canonicalJson(raw, ['signature']);

export function signVote(unsigned: Omit<Vote, 'signature' | 'type' | 'schema'>, privateKeyPem: string): Vote {
  const body: Omit<Vote, 'signature'> = { type: 'syncer-vote', schema: 1, ...unsigned };
  if (body.reason === undefined) delete body.reason;
  return { ...body, signature: signText(voteSigningText(body), privateKeyPem) };
}

export type ValidityState = 'accepted' | 'rejected' | 'pending' | 'unreviewed';

export interface Validity {
  state: ValidityState;
  /** Validators whose latest vote for the advertised commit says valid / invalid. */
  valid: number;
  invalid: number;
  /** How many of them decide (0: nobody reviews this hub). */
  threshold: number;
}

/** Each voter's latest vote (by votedAt; the later key order breaks ties). */
export function latestVotes(votes: readonly Vote[]): Map<string, Vote> {
  const latest = new Map<string, Vote>();
  for (const vote of votes) {
    const seen = latest.get(vote.voter);
    if (!seen || Date.parse(vote.votedAt) >= Date.parse(seen.votedAt)) latest.set(vote.voter, vote);
  }
  return latest;
}

/**
 * The validity of the advertisement `ad` under `charter` (undefined: the hub has none), from the
 * votes cast about its hub, date and operator, whose signatures the caller has checked.
 */
export function validityOf(
  charter: Pick<Charter, 'validators' | 'validatorThreshold'> | undefined,
  ad: { hub: string; date: string; operator: string; commit: string },
  votes: readonly Vote[],
): Validity {
  if (!charter || charter.validators.length === 0) return { state: 'unreviewed', valid: 0, invalid: 0, threshold: 0 };
  const threshold = validatorThresholdOf(charter as Charter);
  const validators = new Set(charter.validators);
  const counted = [...latestVotes(votes.filter((x) => x.hub === ad.hub && x.date === ad.date && x.operator === ad.operator)).values()].filter(
    (x) => validators.has(x.voter) && x.commit === ad.commit,
  );
  const valid = counted.filter((x) => x.verdict === 'valid').length;
  const invalid = counted.filter((x) => x.verdict === 'invalid').length;
  const state: ValidityState = invalid >= threshold ? 'rejected' : valid >= threshold ? 'accepted' : 'pending';
  return { state, valid, invalid, threshold };
}

/** "accepted (2/2 valid)", "pending (1/2 valid)", "rejected (1/1 invalid)", "unreviewed": for tables and messages. */
export function validityText(x: Validity): string {
  if (x.state === 'unreviewed') return 'unreviewed';
  if (x.state === 'rejected') return `rejected (${x.invalid}/${x.threshold} invalid)`;
  return `${x.state} (${x.valid}/${x.threshold} valid${x.invalid ? `, ${x.invalid} invalid` : ''})`;
}
