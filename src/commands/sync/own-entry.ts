/** Which advertisements are this operator's own (the only ones a sync may not replace when newer). */
import type { Advertisement, OperatorRecord } from '../../core/advertisement.js';
import { retiredKeys, signatureProblem } from '../../core/trust.js';
import type { Runtime } from '../../runtime.js';

/** Whether an advertisement is this operator's own: signed by its key, or by an earlier key that still vouches for it. */
export function ownEntry(rt: Runtime, operator: string, record: OperatorRecord | undefined): (ad: Advertisement) => boolean {
  const pair = rt.keystore.load(operator);
  const retired = record ? retiredKeys(operator, record) : [];
  return (ad) => !!pair && signatureProblem(ad, pair.publicKey, retired) === undefined;
}
