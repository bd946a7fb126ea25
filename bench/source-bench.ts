/**
 * `syncer source pull` at scale (run with `npx tsx bench/source-bench.ts` after `npm run build`):
 * a 1,000,000-row CSV file and a 100,000-row PostgreSQL table (a real server, started here in a
 * temporary directory), each pulled into a fresh repository (fetch, external sort, merge, commit),
 * then pulled again with nothing new. Reports rows per second and the peak RSS of the syncer
 * process (git's own processes are not counted), as a markdown table on stdout.
 * Knobs: BENCH_CSV_ROWS (1000000), BENCH_PG_ROWS (100000), BENCH_TMPDIR.
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, knob, progress } from './lib.js';
import { startPostgres } from '../test/helpers/postgres.js';

const CSV_ROWS = knob('BENCH_CSV_ROWS', 1_000_000);
const PG_ROWS = knob('BENCH_PG_ROWS', 100_000);
const root = mkdtempSync(join(process.env.BENCH_TMPDIR ?? tmpdir(), 'syncer-source-bench-'));

const HOOK = `data:text/javascript,${encodeURIComponent("process.on('exit', () => process.stderr.write('\\nmaxrss-kb ' + process.resourceUsage().maxRSS + '\\n'))")}`;

interface Measured {
  ms: number;
  rssMb: number;
  out: Record<string, unknown>;
}

function syncer(args: string[], env: NodeJS.ProcessEnv, nodeFlags: string[] = []): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(process.execPath, [...nodeFlags, '--import', HOOK, BIN, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (code !== 0) return reject(new Error(`syncer ${args.join(' ')} exited ${code}:\n${stderr.slice(-2000)}`));
      const kb = Number(/maxrss-kb (\d+)/.exec(stderr)?.[1] ?? NaN);
      resolve({ ms, rssMb: kb / 1024, out: args.includes('--json') ? JSON.parse(stdout) : {} });
    });
  });
}

function repo(name: string): { dir: string; env: NodeJS.ProcessEnv } {
  const dir = join(root, name, 'repo');
  const home = join(root, name, 'home');
  mkdirSync(dir, { recursive: true });
  mkdirSync(home, { recursive: true });
  const git = (...a: string[]) => execFileSync('git', a, { cwd: dir, stdio: 'pipe' });
  git('init', '-q', '-b', 'main');
  git('config', 'user.name', 'bench');
  git('config', 'user.email', 'bench@example.org');
  git('commit', '-q', '--allow-empty', '-m', 'initial');
  return { dir, env: { PATH: process.env.PATH, HOME: home, LANG: 'C.UTF-8', SYNCER_OPERATOR: 'bench', SYNCER_REPO: dir, SYNCER_NO_INPUT: '1' } };
}

async function writeCsv(path: string, rows: number): Promise<void> {
  const w = createWriteStream(path);
  const write = (s: string) => (w.write(s) ? Promise.resolve() : new Promise<void>((r) => w.once('drain', () => r())));
  await write('id,station,value,quality,updated\n');
  let buf = '';
  // Shuffled ids (a permutation), so the external sort has real work to do.
  for (let i = 0; i < rows; i++) {
    const id = ((i * 7_919) % rows) + 1;
    buf += `${id},st-${id % 997},${(id % 1000) / 10},"ok, checked",2026-01-${String(1 + (id % 28)).padStart(2, '0')}T00:00:00Z\n`;
    if (buf.length > 1 << 20) {
      await write(buf);
      buf = '';
    }
  }
  await write(buf);
  await new Promise<void>((r) => w.end(() => r()));
}

const fmtRate = (rows: number, ms: number) => `${Math.round(rows / (ms / 1000)).toLocaleString('en-US')} rows/s`;
const row = (what: string, rows: number, m: Measured) =>
  `| ${what} | ${rows.toLocaleString('en-US')} | ${(m.ms / 1000).toFixed(1)} s | ${fmtRate(rows, m.ms)} | ${m.rssMb.toFixed(0)} MB |`;

async function main(): Promise<void> {
  const lines: string[] = [];
  try {
    // CSV
    const csv = repo('csv');
    const file = join(root, 'big.csv');
    progress(`writing a ${CSV_ROWS.toLocaleString('en-US')}-row CSV`);
    await writeCsv(file, CSV_ROWS);
    const mb = statSync(file).size / 1024 / 1024;
    await syncer(['source', 'add', 'big', '--hub', 'bench', '--type', 'csv', '--file', file, '--updated-field', 'updated'], csv.env);
    progress('csv: first pull');
    const first = await syncer(['source', 'pull', 'big', '--json'], csv.env);
    if (first.out.added !== CSV_ROWS) throw new Error(`csv pull added ${first.out.added}, expected ${CSV_ROWS}`);
    progress('csv: pull again (nothing new: every row at or after the cursor is compared)');
    const again = await syncer(['source', 'pull', 'big', '--full', '--json'], csv.env);
    if (again.out.committed !== false) throw new Error('csv rerun committed');
    // The same first pull in a process whose JavaScript heap is capped at 64 MB: what "bounded"
    // means (the default run's RSS is mostly garbage V8 has not collected yet).
    const capped = repo('csv-capped');
    await syncer(['source', 'add', 'big', '--hub', 'bench', '--type', 'csv', '--file', file, '--updated-field', 'updated'], capped.env);
    progress('csv: first pull with a 64 MB heap');
    const small = await syncer(['source', 'pull', 'big', '--json'], capped.env, ['--max-old-space-size=64']);
    lines.push(row(`CSV ${mb.toFixed(0)} MB, first pull (parse, sort, merge, commit)`, CSV_ROWS, first));
    lines.push(row('CSV, same first pull with the heap capped at 64 MB', CSV_ROWS, small));
    lines.push(row('CSV, --full rerun, nothing new (no commit)', CSV_ROWS, again));

    // PostgreSQL
    progress('starting PostgreSQL');
    const pg = await startPostgres();
    try {
      pg.createDatabase('bench');
      pg.psql(
        `CREATE TABLE readings (id bigserial PRIMARY KEY, station text, value double precision, quality text, updated_at timestamptz NOT NULL);
         INSERT INTO readings (station, value, quality, updated_at)
           SELECT 'st-' || (g % 997), (g % 1000) / 10.0, 'ok', timestamptz '2026-01-01 00:00:00+00' + (g % 5000) * interval '1 minute' FROM generate_series(1, ${PG_ROWS}) g;
         CREATE INDEX ON readings (updated_at); ANALYZE readings;`,
        'bench',
      );
      const db = repo('pg');
      const env = { ...db.env, BENCH_PG_PASSWORD: pg.password };
      await syncer(
        [
          'source',
          'add',
          'readings',
          '--hub',
          'bench',
          '--type',
          'postgres',
          '--url',
          pg.url('bench'),
          '--password-env',
          'BENCH_PG_PASSWORD',
          '--table',
          'readings',
          '--updated-field',
          'updated_at',
        ],
        env,
      );
      progress('postgres: first pull');
      const p1 = await syncer(['source', 'pull', 'readings', '--json'], env);
      if (p1.out.added !== PG_ROWS) throw new Error(`pg pull added ${p1.out.added}, expected ${PG_ROWS}`);
      pg.psql(`UPDATE readings SET value = -1, updated_at = '2026-02-01 00:00:00+00' WHERE id % 100 = 0`, 'bench');
      progress('postgres: incremental pull (1% changed)');
      const p2 = await syncer(['source', 'pull', 'readings', '--json'], env);
      lines.push(row('PostgreSQL table, first pull', PG_ROWS, p1));
      lines.push(
        row(`PostgreSQL, incremental pull (${Number(p2.out.updated).toLocaleString('en-US')} changed rows fetched by the cursor)`, Number(p2.out.fetched), p2),
      );
    } finally {
      pg.stop();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
  const cpu = execFileSync('nproc', { encoding: 'utf8' }).trim();
  process.stdout.write(
    [
      `### syncer source pull (Node ${process.version}, ${cpu} cores)`,
      '',
      '| run | rows | wall time | rate | peak RSS (syncer process) |',
      '|---|---:|---:|---:|---:|',
      ...lines,
      '',
    ].join('\n'),
  );
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
