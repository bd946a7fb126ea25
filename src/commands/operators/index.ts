/** syncer operators: registered operators with key fingerprints and the local pin state. */
import { fingerprint } from '../../core/signing.js';
import { decideKey } from '../../core/trust.js';
import type { Runtime } from '../../runtime.js';

export async function run(rt: Runtime): Promise<void> {
  const registry = await rt.registry();
  const records = await registry.listOperators();
  const rows = records.map((r) => {
    const pinned = rt.keystore.pinned(rt.trustScope, r.operator);
    const decision = decideKey(r.operator, r, pinned, false);
    const pin = !decision.ok ? (pinned ? 'CHANGED' : 'INVALID') : decision.pin === 'new' ? 'not pinned' : decision.pin === 'rotated' ? 'rotated (signed)' : 'pinned';
    return {
      operator: r.operator,
      remote: r.remote,
      fingerprint: r.publicKey ? fingerprint(r.publicKey) : null,
      pin,
      problem: decision.ok ? undefined : decision.problem,
      registeredAt: r.registeredAt,
      me: r.operator === rt.config.operator,
    };
  });
  rt.out.result(rows, () =>
    rows.length === 0
      ? 'no operators registered'
      : rt.out.table(['OPERATOR', 'FINGERPRINT', 'PIN', 'REMOTE'], rows.map((r) => [r.operator + (r.me ? ' (you)' : ''), r.fingerprint ?? '-', r.pin, r.remote])),
  );
}
