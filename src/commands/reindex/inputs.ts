/**
 * Which remotes reindex reads: `--remote OPERATOR=URL` flags, a `--remotes-file` (one
 * `operator url` a line, `#` comments), and the operators registered in the registry (whose
 * records are untrusted: a bad one is skipped, never handed to git). Bad flags or file lines are
 * usage errors (exit 2), found before anything is read.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { usageError } from '../../errors.js';
import { operatorRecordSchema, MAX_RECORD_BYTES, type OperatorRecord } from '../../core/advertisement.js';
import { nameProblem } from '../../core/names.js';
import { checkRemoteUrl, classifyRemote, redactUrl } from '../../core/remote-url.js';
import { escapeControl } from '../../core/sanitize.js';
import type { Skip } from './verify.js';

export interface RemoteTarget {
  operator: string;
  url: string;
  source: 'flag' | 'file' | 'registry' | 'mirror';
}

/**
 * A remote the user gave: whatever git and sync accept (URL, user@host:path, a plain path: the
 * file transport, relative to `base`), through the same classifyRemote as init and sync.
 */
function target(operator: string, url: string, source: RemoteTarget['source'], where: string, transports: readonly string[], base: string): RemoteTarget {
  const problem = nameProblem(operator);
  if (problem) throw usageError(`${where}: invalid operator ${JSON.stringify(escapeControl(operator))}: ${problem}`);
  const check = classifyRemote(url, { allowed: transports, local: { base } });
  if (!check.ok) throw usageError(`${where}: the remote of ${operator} (${escapeControl(redactUrl(url))}) is not usable: ${check.problem}`);
  return { operator, url: check.url!, source };
}

/** `--remote OPERATOR=URL` values. */
export function parseRemoteFlags(values: string[], transports: readonly string[], cwd: string = process.cwd()): RemoteTarget[] {
  return values.map((v) => {
    const eq = v.indexOf('=');
    if (eq <= 0)
      throw usageError(`--remote ${JSON.stringify(escapeControl(v))}: expected OPERATOR=URL`, 'e.g. --remote lab-a=https://git.example.org/lab-a/data.git');
    return target(v.slice(0, eq), v.slice(eq + 1), 'flag', '--remote', transports, cwd);
  });
}

/** The text of a remotes file: `operator url` a line; blank lines and `#` comments ignored. */
export function parseRemotesFile(text: string, file: string, transports: readonly string[]): RemoteTarget[] {
  const out: RemoteTarget[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(/\s+/);
    const where = `${file} line ${i + 1}`;
    if (fields.length !== 2) throw usageError(`${where}: expected "operator url", got ${fields.length} field(s)`);
    // Relative paths in the file are relative to the file.
    out.push(target(fields[0]!, fields[1]!, 'file', where, transports, dirname(resolve(file))));
  });
  return out;
}

export function readRemotesFile(file: string, transports: readonly string[]): RemoteTarget[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw usageError(`cannot read --remotes-file ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return parseRemotesFile(text, file, transports);
}

/** Flags and file together: one remote per operator (the same operator twice must agree). */
export function mergeExplicit(targets: RemoteTarget[]): RemoteTarget[] {
  const byOperator = new Map<string, RemoteTarget>();
  for (const t of targets) {
    const seen = byOperator.get(t.operator);
    if (seen && seen.url !== t.url) {
      throw usageError(`operator ${t.operator} is given two remotes (${redactUrl(seen.url)} and ${redactUrl(t.url)})`, 'give each operator one remote');
    }
    if (!seen) byOperator.set(t.operator, t);
  }
  return [...byOperator.values()];
}

export interface RegisteredOperator {
  key: string;
  operator: string;
  record?: OperatorRecord;
  problem?: string;
}

/** A raw `<ns>operators/<name>` value: the record, or why it is refused. */
export function parseRegistered(key: string, name: string, value: Buffer): RegisteredOperator {
  if (nameProblem(name)) return { key, operator: name, problem: 'not a valid operator name' };
  if (value.length > MAX_RECORD_BYTES) return { key, operator: name, problem: `the record is ${value.length} bytes` };
  try {
    const parsed = operatorRecordSchema.safeParse(JSON.parse(value.toString()));
    if (!parsed.success) return { key, operator: name, problem: `invalid record (${parsed.error.issues[0]!.message})` };
    if (parsed.data.operator !== name) return { key, operator: name, problem: 'the record names another operator' };
    return { key, operator: name, record: parsed.data };
  } catch {
    return { key, operator: name, problem: 'the record is not JSON' };
  }
}

/**
 * Every remote to read: the explicit ones, then each registered operator not given explicitly,
 * at the remote its record names (when that record and URL are acceptable; else a skip).
 */
export function remotesToRead(
  explicit: RemoteTarget[],
  registered: RegisteredOperator[],
  transports: readonly string[],
): { targets: RemoteTarget[]; skipped: Skip[] } {
  const targets = [...explicit];
  const skipped: Skip[] = [];
  const given = new Set(explicit.map((t) => t.operator));
  for (const r of registered) {
    if (given.has(r.operator)) continue;
    if (!r.record) {
      skipped.push({ operator: r.operator, key: r.key, reason: `registered operator not read: ${r.problem}` });
      continue;
    }
    const check = checkRemoteUrl(r.record.remote, transports);
    if (!check.ok) {
      skipped.push({ operator: r.operator, key: r.key, reason: `registered operator not read: its remote is refused (${check.problem})` });
      continue;
    }
    targets.push({ operator: r.operator, url: r.record.remote, source: 'registry' });
  }
  return { targets, skipped };
}
