/**
 * A trust file a consortium distributes (like ssh's known_hosts): one `OPERATOR SHA256:<fingerprint>`
 * a line, `#` comments. An operator it lists is trusted only with a key it lists, whatever the
 * registry shows: first use no longer decides. Pure: the verifier reads the file.
 */
import { isName } from './names.js';

export type TrustFile = Map<string, Set<string>>;

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

export function isFingerprint(text: string): boolean {
  return FINGERPRINT.test(text);
}

/** The operators and their fingerprints, or the first line that is not one (1-based). */
export function parseTrustFile(text: string): { ok: true; trust: TrustFile } | { ok: false; line: number; problem: string } {
  const trust: TrustFile = new Map();
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/#.*$/, '').trim();
    if (!line) continue;
    const [operator, fp, ...rest] = line.split(/\s+/);
    if (!isName(operator!)) return { ok: false, line: i + 1, problem: `${JSON.stringify(operator)} is not an operator name` };
    if (!fp || !isFingerprint(fp) || rest.length) return { ok: false, line: i + 1, problem: 'expected OPERATOR SHA256:<fingerprint> (43 base64 characters)' };
    if (!trust.has(operator!)) trust.set(operator!, new Set());
    trust.get(operator!)!.add(fp);
  }
  return { ok: true, trust };
}
