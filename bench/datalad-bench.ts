/**
 * syncer against DataLad, the field's best-known tool for versioned research data, on the same
 * hub: publish (syncer sync vs `datalad save` + `datalad push` to a bare repository with an annex)
 * and fetch (syncer retrieve vs `datalad clone` + `datalad get`). DataLad runs with its defaults
 * (content in git-annex). Rounds alternate which tool goes first. Part `datalad` of `npm run bench`
 * when `datalad` is on PATH (Debian: apt-get install datalad); alone: `npx tsx bench/datalad-bench.ts`
 * after `npm run build`. Knobs: BENCH_DATALAD_FILES (1000), BENCH_DATALAD_ROUNDS (5).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { startCluster } from '../test/helpers/etcd.js';
import { baseEnv, World, type Operator } from '../test/helpers/world.js';
import { BIN, fmtMs, knob, median, overhead, progress, renderTable, spread, timeOk, waitForGc, type Row } from './lib.js';

const HUB = 'shared';

function csv(index: number): string {
  const lines = ['station,timestamp,value'];
  for (let i = 0; i < 30; i++)
    lines.push(`st-${index % 97},${new Date(Date.UTC(2025, 0, 1) + (index * 30 + i) * 3_600_000).toISOString()},${(index * 7 + i) % 1000}`);
  return `${lines.join('\n')}\n`;
}

function writeFiles(dir: string, files: number): void {
  for (let i = 0; i < files; i++) {
    const sub = join(dir, `part-${String(i % 10).padStart(2, '0')}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `rows-${i}.csv`), csv(i));
  }
}

const countFiles = (dir: string) => readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile() || e.isSymbolicLink()).length;

export function dataladAvailable(): boolean {
  try {
    execFileSync('datalad', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** A DataLad dataset holding the same files, with a bare repository (annex initialised) as origin. */
function dataladPublisher(world: World, name: string, files: number, env: NodeJS.ProcessEnv): { ds: string; bare: string } {
  const ds = join(world.root, `${name}-ds`);
  const bare = join(world.root, `${name}-bare.git`);
  const run = (cmd: string, args: string[], cwd?: string) => execFileSync(cmd, args, { cwd, env, stdio: 'ignore' });
  run('datalad', ['create', ds]);
  run('git', ['init', '--quiet', '--bare', bare]);
  run('git', ['annex', 'init', 'origin'], bare);
  run('git', ['remote', 'add', 'origin', bare], ds);
  writeFiles(join(ds, HUB), files);
  return { ds, bare };
}

export async function benchDatalad(hosts: string, files: number, rounds: number): Promise<Row[]> {
  const world = new World(hosts, `bench-datalad-${process.pid}/`);
  const t = { syncerSync: [] as number[], dlPublish: [] as number[], syncerRetrieve: [] as number[], dlFetch: [] as number[] };
  try {
    progress(`datalad: ${rounds} round(s) of publish + fetch of ${files} files, syncer vs datalad`);
    const peer = await world.operator('dl-peer');
    for (let r = 0; r < rounds; r++) {
      const op: Operator = await world.operator(`dl-s${r}`);
      writeFiles(join(op.repo, HUB), files);
      const dlEnv = baseEnv({
        ...op.env,
        GIT_AUTHOR_NAME: 'bench',
        GIT_AUTHOR_EMAIL: 'b@example.org',
        GIT_COMMITTER_NAME: 'bench',
        GIT_COMMITTER_EMAIL: 'b@example.org',
      });
      const dl = dataladPublisher(world, `dl-${r}`, files, dlEnv);
      let date = '';
      const syncerSync = async () => {
        const s = timeOk('syncer sync', process.execPath, [BIN, 'sync', '--hub', HUB, '--json'], { env: baseEnv(op.env), cwd: op.repo });
        date = (JSON.parse(s.stdout) as { date: string }).date;
        t.syncerSync.push(s.ms);
        await waitForGc(op.repo);
      };
      const dlPublish = async () => {
        const a = timeOk('datalad save', 'datalad', ['save', '-m', `sync ${HUB}`], { env: dlEnv, cwd: dl.ds });
        const b = timeOk('datalad push', 'datalad', ['push', '--to', 'origin'], { env: dlEnv, cwd: dl.ds });
        t.dlPublish.push(a.ms + b.ms);
      };
      const syncerRetrieve = async () => {
        const into = join(world.root, `got-syncer-${r}`);
        const args = [BIN, 'retrieve', '--hub', HUB, '--date', date, '--operator', op.name, '--into', into, '--json'];
        t.syncerRetrieve.push(timeOk('syncer retrieve', process.execPath, args, { env: baseEnv(peer.env) }).ms);
        if (countFiles(join(into, HUB)) !== files) throw new Error('syncer retrieve: wrong file count');
      };
      const dlFetch = async () => {
        const into = join(world.root, `got-datalad-${r}`);
        const a = timeOk('datalad clone', 'datalad', ['clone', dl.bare, into], { env: dlEnv });
        const b = timeOk('datalad get', 'datalad', ['get', '-d', into, '.'], { env: dlEnv, cwd: into });
        t.dlFetch.push(a.ms + b.ms);
        if (countFiles(join(into, HUB)) !== files) throw new Error('datalad get: wrong file count');
      };
      const order = r % 2 === 0 ? [syncerSync, dlPublish, syncerRetrieve, dlFetch] : [dlPublish, syncerSync, dlFetch, syncerRetrieve];
      for (const step of order) await step();
      progress(
        `  round ${r + 1}: sync ${fmtMs(t.syncerSync.at(-1)!)} / datalad ${fmtMs(t.dlPublish.at(-1)!)}; retrieve ${fmtMs(t.syncerRetrieve.at(-1)!)} / ` +
          `datalad ${fmtMs(t.dlFetch.at(-1)!)}`,
      );
    }
  } finally {
    world.cleanup();
  }
  const version = execFileSync('datalad', ['--version'], { encoding: 'utf8' }).trim();
  const of = `${files.toLocaleString('en-US')} files, median (range) of ${rounds}, load ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
  return [
    {
      area: 'datalad',
      what: `publish: \`syncer sync\` (commit, tag, push, advertise) vs \`datalad save\` + \`datalad push\` (${version}; ${of})`,
      result: spread(t.syncerSync),
      reference: `DataLad: ${spread(t.dlPublish)}`,
      ratio: overhead(median(t.syncerSync), median(t.dlPublish)),
    },
    {
      area: 'datalad',
      what: `fetch: \`syncer retrieve\` vs \`datalad clone\` + \`datalad get\` (${of})`,
      result: spread(t.syncerRetrieve),
      reference: `DataLad: ${spread(t.dlFetch)}`,
      ratio: overhead(median(t.syncerRetrieve), median(t.dlFetch)),
    },
  ];
}

if (import.meta.url === `file://${process.argv[1]}`) {
  if (!dataladAvailable()) {
    progress('datalad is not on PATH (Debian: apt-get install datalad)');
    process.exit(2);
  }
  const cluster = await startCluster(1);
  try {
    process.stdout.write(renderTable(await benchDatalad(cluster.hosts, knob('BENCH_DATALAD_FILES', 1000), knob('BENCH_DATALAD_ROUNDS', 5))));
  } finally {
    await cluster.close();
  }
}
