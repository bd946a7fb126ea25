/**
 * Small helpers shared by the benchmark parts: timing child processes, statistics, formatting,
 * progress on stderr. Nothing here asserts anything: a benchmark reports, it does not test.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const ROOT = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
export const BIN = join(ROOT, 'bin', 'syncer.js');

/** One row of the results table. */
export interface Row {
  area: string;
  what: string;
  result: string;
  reference?: string;
  ratio?: string;
}

export function progress(message: string): void {
  process.stderr.write(`bench: ${message}\n`);
}

/** Integer from the environment (BENCH_* knobs), with a default. */
export function knob(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${raw}`);
  return Math.floor(n);
}

export interface Timed {
  ms: number;
  code: number;
  stdout: string;
  stderr: string;
}

/** Run a command to completion and time it (wall clock, including process start-up). */
export function timeCommand(cmd: string, args: string[], options: SpawnSyncOptions = {}): Timed {
  const start = process.hrtime.bigint();
  const res = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024, stdio: ['ignore', 'pipe', 'pipe'], ...options });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (res.error) throw res.error;
  return { ms, code: res.status ?? 128 + 9, stdout: String(res.stdout ?? ''), stderr: String(res.stderr ?? '') };
}

/** Like timeCommand, but a non-zero exit is a failure of the benchmark setup (with its stderr). */
export function timeOk(label: string, cmd: string, args: string[], options: SpawnSyncOptions = {}): Timed {
  const t = timeCommand(cmd, args, options);
  if (t.code !== 0) throw new Error(`${label} exited ${t.code}:\n${t.stderr.slice(-2000)}`);
  return t;
}

const GNU_TIME = '/usr/bin/time';

/**
 * Peak resident memory (MB) of one run of a command, as GNU time reports it (its maximum RSS);
 * undefined without /usr/bin/time (Debian: apt-get install time) or when the command fails.
 */
export function peakRssMb(cmd: string, args: string[], options: SpawnSyncOptions = {}): number | undefined {
  if (!existsSync(GNU_TIME)) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'syncer-bench-rss-'));
  try {
    const out = join(dir, 'rss');
    const res = spawnSync(GNU_TIME, ['-f', '%M', '-o', out, cmd, ...args], { stdio: ['ignore', 'ignore', 'ignore'], ...options });
    if (res.status !== 0) return undefined;
    const kb = Number(readFileSync(out, 'utf8').trim().split('\n').at(-1));
    return Number.isFinite(kb) && kb > 0 ? kb / 1024 : undefined;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-rank percentile. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * s.length));
  return s[rank - 1]!;
}

/** "510 ms (480-560 ms)": median with the range, so a noisy run shows as one. */
export function spread(xs: number[]): string {
  if (xs.length < 2) return fmtMs(median(xs));
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  const [l, h] = [fmtMs(lo), fmtMs(hi)];
  const sameUnit = l.split(' ')[1] === h.split(' ')[1];
  return `${fmtMs(median(xs))} (${sameUnit ? l.split(' ')[0] : l}-${h})`;
}

export function fmtMs(ms: number): string {
  if (ms >= 10_000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  return `${Math.round(ms)} ms`;
}

export function ratio(a: number, b: number): string {
  return b > 0 ? `${(a / b).toFixed(2)}x` : 'n/a';
}

/** "1.23x (+45 ms)": how much slower (or faster) a is than b. */
export function overhead(a: number, b: number): string {
  const d = a - b;
  return `${ratio(a, b)} (${d < 0 ? '-' : '+'}${fmtMs(Math.abs(d))})`;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * git commits of many loose objects start a detached `git gc --auto`; wait for it so it does not
 * steal a core from the next measurement on a small machine.
 */
export async function waitForGc(repo: string, maxMs = 120_000): Promise<void> {
  const pid = join(repo, '.git', 'gc.pid');
  const deadline = Date.now() + maxMs;
  await sleep(200); // the detached gc may not have written its pid file yet
  while (existsSync(pid) && Date.now() < deadline) await sleep(200);
}

export function renderTable(rows: Row[]): string {
  const head = ['Area', 'Measurement', 'syncer', 'Reference', 'Ratio'];
  const esc = (s: string | undefined) => (s ?? '').replace(/\|/g, '\\|');
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) lines.push(`| ${[r.area, r.what, r.result, r.reference, r.ratio].map(esc).join(' | ')} |`);
  return `${lines.join('\n')}\n`;
}
