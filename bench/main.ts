/**
 * syncer benchmarks. Prints ONE markdown table on stdout (progress goes to stderr) and writes the
 * same table to bench/results/latest.md. Run with `npm run bench` (bench/run.sh builds first).
 *
 * Knobs (environment), defaults in brackets:
 *   BENCH_STARTUP_RUNS [20]   runs of `node -e 0` and `syncer --help`
 *   BENCH_HUBS [50] BENCH_DATES [200] BENCH_OPERATORS [10]   registry size
 *   BENCH_LS_RUNS [5]         runs of each ls / etcdctl measurement
 *   BENCH_FILES [10000]       files in the big dataset
 *   BENCH_ROUNDS [5]          sync + retrieve rounds (median reported)
 *   BENCH_ONLY                comma list of parts to run: startup,registry,dataset,datalad,watch,reindex,mirror
 *   (watch-latency.ts, reindex-bench.ts and mirror-bench.ts list their own knobs)
 *   BENCH_TMPDIR              where etcd data and repositories live (run.sh default: /dev/shm)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { startCluster, type Cluster } from '../test/helpers/etcd.js';
import { fmtMs, knob, progress, renderTable, ROOT, type Row } from './lib.js';
import { benchDatalad, dataladAvailable } from './datalad-bench.js';
import { benchStartup } from './startup.js';
import { benchRegistry } from './registry.js';
import { benchDataset } from './dataset.js';
import { benchWatchLatency } from './watch-latency.js';
import { benchReindex } from './reindex-bench.js';
import { benchMirror } from './mirror-bench.js';

const NAMESPACE = 'syncer/';

function firstLine(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
      .split('\n')[0]!
      .trim();
  } catch {
    return `${cmd}: not found`;
  }
}

function machineRows(): Row[] {
  const nproc = firstLine('nproc', []);
  const etcd = firstLine(process.env.SYNCER_ETCD_BIN || 'etcd', ['--version']).replace(/^etcd Version:\s*/, '');
  const git = firstLine('git', ['--version']).replace(/^git version\s*/, '');
  const commit = firstLine('git', ['-C', ROOT, 'describe', '--always', '--dirty']);
  return [
    {
      area: 'machine',
      what: 'nproc / CPU / node / etcd / git / kernel / storage of etcd and repos',
      result:
        `${nproc} / ${cpus()[0]?.model.trim() ?? 'unknown'} / node ${process.version} / etcd ${etcd} / git ${git} / Linux ${release()} / ` +
        `${process.env.BENCH_STORAGE ?? 'tmpdir'}`,
      reference: `syncer ${commit}, ${new Date().toISOString().slice(0, 16)}Z, load average at start ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    },
  ];
}

async function main(): Promise<void> {
  const started = Date.now();
  const only = new Set((process.env.BENCH_ONLY ?? 'startup,registry,dataset,datalad,watch,reindex,mirror').split(',').map((s) => s.trim()));
  const rows: Row[] = machineRows();
  let cluster: Cluster | undefined;
  const cleanup = async () => {
    const c = cluster;
    cluster = undefined;
    await c?.close();
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      progress(`${sig}: stopping etcd`);
      void cleanup().finally(() => process.exit(130));
    });
  }
  try {
    // Start-up first, on a quiet machine (no etcd running yet).
    if (only.has('startup')) rows.push(...benchStartup(knob('BENCH_STARTUP_RUNS', 20)));
    if (only.has('registry') || only.has('dataset') || only.has('datalad')) {
      progress('starting a fresh single-member etcd');
      cluster = await startCluster(1);
    }
    if (only.has('registry') && cluster) {
      rows.push(
        ...(await benchRegistry(cluster, NAMESPACE, {
          hubs: knob('BENCH_HUBS', 50),
          dates: knob('BENCH_DATES', 200),
          operators: knob('BENCH_OPERATORS', 10),
          runs: knob('BENCH_LS_RUNS', 5),
        })),
      );
    }
    // Same cluster and namespace: sync and retrieve run against the full registry.
    if (only.has('dataset') && cluster) {
      rows.push(
        ...(await benchDataset(cluster, NAMESPACE, {
          files: knob('BENCH_FILES', 10_000),
          rounds: knob('BENCH_ROUNDS', 5),
          changed: knob('BENCH_CHANGED', 100),
        })),
      );
    }
    if (only.has('datalad') && cluster) {
      if (dataladAvailable()) rows.push(...(await benchDatalad(cluster.hosts, knob('BENCH_DATALAD_FILES', 1000), knob('BENCH_DATALAD_ROUNDS', 5))));
      else rows.push({ area: 'datalad', what: 'not measured: datalad is not on PATH (Debian: apt-get install datalad)', result: '-' });
    }
    await cleanup();
    // The other flows start their own fresh etcd each.
    if (only.has('watch')) rows.push(...(await benchWatchLatency(knob('BENCH_WATCH_N', 200), knob('BENCH_WATCH_WARMUP', 5))).rows);
    if (only.has('reindex')) {
      rows.push(
        ...(await benchReindex({ operators: knob('BENCH_REINDEX_OPERATORS', 10), ads: knob('BENCH_REINDEX_ADS', 100), runs: knob('BENCH_REINDEX_RUNS', 3) })),
      );
    }
    if (only.has('mirror')) {
      rows.push(
        ...(await benchMirror({
          operators: knob('BENCH_MIRROR_OPERATORS', 10),
          dates: knob('BENCH_MIRROR_DATES', 50),
          files: knob('BENCH_MIRROR_FILES', 200),
          fileKb: knob('BENCH_MIRROR_FILE_KB', 5),
          changes: knob('BENCH_MIRROR_CHANGES', 3),
          singleBranch: process.env.BENCH_MIRROR_SINGLE_BRANCH === '1',
        })),
      );
    }
  } finally {
    await cleanup();
  }
  rows.push({ area: 'bench', what: 'total wall time of this run', result: fmtMs(Date.now() - started) });

  const table = renderTable(rows);
  const dir = join(ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, '.latest.md.tmp'), table);
  renameSync(join(dir, '.latest.md.tmp'), join(dir, 'latest.md'));
  process.stdout.write(table);
  progress(`results written to bench/results/latest.md`);
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    progress(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    process.exit(1);
  },
);
