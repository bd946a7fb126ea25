/** Validation of the names, dates and paths that end up in etcd keys, git refs and file paths. */
import { usageError } from '../errors.js';

const NAME_RE = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const DATE_RE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Why `name` is not a valid NAME, or undefined when it is. */
export function nameProblem(name: string): string | undefined {
  if (!NAME_RE.test(name)) return 'must match ^[a-z0-9][a-z0-9._-]{0,62}$ (lower case)';
  if (name.includes('..')) return 'must not contain ".."';
  if (name.endsWith('.')) return 'must not end with "."';
  if (name.endsWith('.lock')) return 'must not end with ".lock"';
  return undefined;
}

export const isName = (name: string) => nameProblem(name) === undefined;

export function checkName(kind: string, name: string): string {
  const problem = nameProblem(name);
  if (problem) throw usageError(`invalid ${kind} ${JSON.stringify(name)}: ${problem}`);
  return name;
}

/** A real calendar date written YYYY-MM-DD. */
export function isDate(date: string): boolean {
  const m = DATE_RE.exec(date);
  if (!m) return false;
  const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
  return d.toISOString().slice(0, 10) === date;
}

export function checkDate(date: string): string {
  if (!isDate(date)) throw usageError(`invalid date ${JSON.stringify(date)}: expected YYYY-MM-DD (UTC) or "latest"`);
  return date;
}

/** The UTC calendar date of an instant: a sync at 17:00 in California is tomorrow's. */
export function utcDate(now: Date): string {
  return now.toISOString().slice(0, 10);
}

/** The day after `now` (UTC): no honest sync makes a later date (a clock a day ahead at most). */
export function latestHonestDate(now: Date): string {
  return utcDate(new Date(now.getTime() + 86_400_000));
}

/** Why an advertisement's date cannot be honest (after tomorrow, UTC), or undefined. */
export function futureDateProblem(date: string, now: Date): string | undefined {
  const limit = latestHonestDate(now);
  return date > limit ? `dated ${date}, after tomorrow (${limit}, UTC): no honest sync makes such a date` : undefined;
}

/**
 * Why a dataset path (relative to the repository root) is unsafe, or undefined when it is fine.
 * Paths come from users and, on retrieve, from the registry: no absolute paths, no "..",
 * nothing git would read as an option, no control characters.
 */
export function datasetPathProblem(path: string): string | undefined {
  if (path.length === 0 || path.length > 4096) return 'must be a non-empty relative path';
  if (path.startsWith('/') || /^[a-zA-Z]:/.test(path)) return 'must be relative to the repository root';
  if (path.startsWith('-')) return 'must not begin with "-"';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f\\]/.test(path)) return 'must not contain control characters or backslashes';
  // The path becomes a sparse-checkout pattern: no glob or pattern syntax.
  if (/[*?[\]]/.test(path)) return 'must not contain glob characters (* ? [ ])';
  const parts = path.split('/').filter((p) => p !== '');
  if (parts.some((p) => p.startsWith('!') || p.startsWith('#'))) return 'must not have segments starting with "!" or "#"';
  if (parts.length === 0) return 'must name a directory inside the repository';
  if (parts.some((p) => p === '..' || p === '.')) return 'must not contain "." or ".." segments';
  if (parts[0] === '.git') return 'must not point into .git';
  return undefined;
}

/** `a//b/` -> `a/b`: the form stored in advertisements. */
export function normalizeDatasetPath(path: string): string {
  return path
    .split('/')
    .filter((p) => p !== '')
    .join('/');
}

export function checkDatasetPath(path: string): string {
  const problem = datasetPathProblem(path);
  if (problem) throw usageError(`invalid --path ${JSON.stringify(path)}: ${problem}`);
  return normalizeDatasetPath(path);
}
