/**
 * syncer vote: a verdict on one advertisement, signed by the voter and bound to the advertised
 * commit, at `<ns>votes/<hub>/<date>/<operator>/<voter>` (one per voter: a new vote replaces the
 * voter's earlier one, never by an older one). Only the hub charter's validators count
 * (core/validity.ts); anyone else's vote is kept but does not count.
 */
import { SyncerError, usageError, verifyError } from '../../errors.js';
import { checkDate, checkName } from '../../core/names.js';
import { escapeControl } from '../../core/sanitize.js';
import { fingerprint } from '../../core/signing.js';
import { MAX_REASON, parseVote, signVote, validityText, type Validity } from '../../core/validity.js';
import type { Runtime } from '../../runtime.js';
import { refusedHint, Verifier } from '../../verifier.js';
import { recordFile, voteFile } from '../hub/record.js';

export interface VoteOptions {
  hub: string;
  date: string;
  operator: string;
  verdict: 'valid' | 'invalid';
  reason?: string;
  allowUnsigned?: boolean;
  acceptKey?: boolean;
}

export interface VoteResult {
  hub: string;
  date: string;
  operator: string;
  commit: string;
  voter: string;
  verdict: 'valid' | 'invalid';
  counted: boolean;
  validity: Validity;
}

export async function run(rt: Runtime, options: VoteOptions): Promise<void> {
  const { hub, date, operator } = options;
  checkName('hub', hub);
  checkDate(date);
  checkName('operator', operator);
  if (options.reason !== undefined && options.reason.length > MAX_REASON)
    throw usageError(`--reason is longer than ${MAX_REASON.toLocaleString('en-US')} characters`);
  const voter = rt.config.operator;
  if (!voter) throw usageError('no operator configured', 'run `syncer init`, or set SYNCER_OPERATOR');
  const pair = rt.keystore.load(voter);
  if (!pair) throw usageError(`no signing key for ${voter} at ${rt.keystore.keyFile(voter)}`, 'syncer init makes one');
  const registry = await rt.registry();
  const entry = await registry.getOperatorEntry(voter);
  if (entry?.record?.publicKey !== pair.publicKey) {
    throw usageError(
      `the registry does not hold your key (${fingerprint(pair.publicKey)}) for operator ${voter}: peers could not check your vote`,
      'run syncer init (or syncer sync) first',
    );
  }
  if (!rt.keystore.pinned(rt.trustScope, voter)) rt.keystore.pin(rt.trustScope, voter, pair.publicKey, rt.now(), 'own-key');
  const id = { hub, date, operator };
  const ad = await registry.getAdvertisement(id);
  if (!ad) throw usageError(`no advertisement for ${hub}/${date} by ${operator}`, `see what exists: syncer ls ${hub} ${date}`);
  const verifier = new Verifier(rt, registry, options);
  const problem = await verifier.problem(ad);
  if (problem) throw verifyError(`refusing to vote on ${hub}/${date}/${operator}: ${escapeControl(problem)}`, refusedHint([problem]));

  const charter = (await verifier.hubs.charter(hub)).current?.charter;
  const counted = !!charter?.validators.includes(voter);
  if (!counted) {
    rt.out.warn(
      charter
        ? `you (${voter}) are not a validator of hub ${hub} (validators: ${charter.validators.join(', ') || 'none'}): your vote is kept but does not count`
        : `hub ${hub} has no charter, so no validators: your vote is kept but does not count`,
    );
  }
  const now = rt.now();
  const vote = signVote(
    { hub, date, operator, commit: ad.commit, voter, verdict: options.verdict, reason: options.reason, votedAt: now.toISOString() },
    pair.privateKeyPem,
  );
  const existing = await registry.readVote(id, voter);
  if (existing) {
    const before = parseVote(existing.value, { ...id, voter });
    if (before.ok && Date.parse(before.doc.vote.votedAt) > now.getTime()) {
      throw usageError(
        `the registry holds a newer vote of yours on ${hub}/${date}/${operator} (cast at ${before.doc.vote.votedAt})`,
        "check this machine's clock; the newer vote was kept",
      );
    }
  }
  if (!(await registry.putVote(id, voter, JSON.stringify(vote), existing?.modRevision))) {
    throw new SyncerError('REGISTRY', `your vote on ${hub}/${date}/${operator} changed meanwhile; nothing was written`, { hint: 'run it again' });
  }
  await recordFile(rt, voteFile(id), vote, `vote ${options.verdict} on ${hub}/${date}/${operator}`);
  verifier.hubs.forget(hub, date);
  const [validity] = await verifier.hubs.validity([ad]);
  const result: VoteResult = { hub, date, operator, commit: ad.commit, voter, verdict: options.verdict, counted, validity: validity! };
  rt.out.result(result, () => `voted ${options.verdict} on ${hub}/${date}/${operator} at ${ad.commit.slice(0, 12)}: ${validityText(validity!)}`);
}
