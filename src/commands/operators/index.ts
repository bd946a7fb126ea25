/**
 * syncer operators: registered operators with key fingerprints and the local pin state.
 * syncer operators pin OPERATOR FINGERPRINT: pin an operator's key from a fingerprint learnt
 * outside the registry (in person, from the consortium), so first use never decides it.
 */
import { fingerprint } from '../../core/signing.js';
import { decideKey } from '../../core/trust.js';
import { isFingerprint } from '../../core/trust-file.js';
import { checkName } from '../../core/names.js';
import { usageError, verifyError } from '../../errors.js';
import type { Runtime } from '../../runtime.js';

export interface OperatorsOptions {
  action?: 'list' | 'pin';
  operator?: string;
  fingerprint?: string;
}

export async function run(rt: Runtime, options: OperatorsOptions = {}): Promise<void> {
  if (options.action === 'pin') return pin(rt, options.operator, options.fingerprint);
  return list(rt);
}

async function pin(rt: Runtime, operator: string | undefined, fp: string | undefined): Promise<void> {
  if (!operator || !fp)
    throw usageError(
      'operators pin needs OPERATOR and FINGERPRINT',
      'syncer operators pin lab-a SHA256:... (syncer operators shows the fingerprints the registry holds)',
    );
  checkName('operator', operator);
  if (!isFingerprint(fp))
    throw usageError(
      `invalid fingerprint ${JSON.stringify(fp)}: expected SHA256: and 43 base64 characters`,
      'ask the operator for the output of: syncer keys show',
    );
  const registry = await rt.registry();
  const entry = await registry.getOperatorEntry(operator);
  if (!entry?.record) throw usageError(`no operator ${operator} in the registry`, 'see who is registered: syncer operators');
  const held = entry.record.publicKey ? fingerprint(entry.record.publicKey) : 'no key';
  if (held !== fp)
    throw verifyError(
      `not pinning ${operator}: the registry holds ${held}, not ${fp}`,
      `the registry does not hold the key you were given: check with ${operator} before trusting its data`,
    );
  const decision = decideKey(operator, entry.record, undefined, false, new Set([fp]));
  if (!decision.ok)
    throw verifyError(
      `not pinning ${operator}: ${decision.problem}`,
      `the registry does not hold the key you were given: check with ${operator} before trusting its data`,
    );
  const before = rt.keystore.pinned(rt.trustScope, operator);
  rt.keystore.pin(rt.trustScope, operator, decision.publicKey, rt.now(), 'fingerprint');
  const replaced = before && before !== decision.publicKey ? fingerprint(before) : undefined;
  const result = { operator, fingerprint: fp, pinned: true, ...(replaced ? { replaced } : {}) };
  rt.out.result(result, () => `pinned ${operator} ${fp}${replaced ? ` (replaces ${replaced})` : ''}`);
}

async function list(rt: Runtime): Promise<void> {
  const registry = await rt.registry();
  const records = await registry.listOperators();
  const rows = records.map((r) => {
    const pinned = rt.keystore.pinned(rt.trustScope, r.operator);
    const vouched = rt.trustFile?.get(r.operator);
    const decision = vouched ? decideKey(r.operator, r, pinned, false, vouched) : decideKey(r.operator, r, pinned, false);
    const source = rt.keystore.pinSource(rt.trustScope, r.operator);
    const pin = !decision.ok
      ? pinned || vouched
        ? 'CHANGED'
        : 'INVALID'
      : vouched
        ? 'trust file'
        : decision.pin === 'new'
          ? 'not pinned'
          : decision.pin === 'rotated'
            ? 'rotated (signed)'
            : 'pinned';
    // How the pin came about: only 'first-use' was never checked by anyone.
    const pinnedBy = vouched && decision.ok ? 'trust-file' : pinned ? source : undefined;
    return {
      operator: r.operator,
      remote: r.remote,
      fingerprint: r.publicKey ? fingerprint(r.publicKey) : null,
      pin,
      ...(pinnedBy ? { pinnedBy } : {}),
      problem: decision.ok ? undefined : decision.problem,
      registeredAt: r.registeredAt,
      me: r.operator === rt.config.operator,
    };
  });
  rt.out.result(rows, () =>
    rows.length === 0
      ? 'no operators registered'
      : rt.out.table(
          ['OPERATOR', 'FINGERPRINT', 'PIN', 'REMOTE'],
          rows.map((r) => [
            r.operator + (r.me ? ' (you)' : ''),
            r.fingerprint ?? '-',
            r.pin === 'pinned' && r.pinnedBy === 'first-use' ? 'pinned (first use)' : r.pin,
            r.remote,
          ]),
        ),
  );
}
