/**
 * reindex at scale: OPERATORS bare `file://` remotes (filters allowed), each with ADS annotated
 * `syncer/<hub>/<date>` tags whose messages are advertisements signed with the real signing code
 * (made with `git fast-import`, not thousands of CLI syncs) and a signed `.syncer/operator.json`;
 * then `syncer reindex --remotes-file` into an empty namespace of a fresh etcd, timed, against the
 * same git work done by hand, one remote after the other, and a second run that has nothing to write.
 *
 * Standalone: `npx tsx bench/reindex-bench.ts` (run `npm run build` first: it measures dist/).
 * Prints markdown table rows (no header) on stdout, progress on stderr. Exports benchReindex()
 * for bench/main.ts. Knobs: BENCH_REINDEX_OPERATORS [10], BENCH_REINDEX_ADS [100] (per operator),
 * BENCH_REINDEX_RUNS [3], BENCH_TMPDIR.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { randomUUID } from 'node:crypto';
import { startCluster } from '../test/helpers/etcd.js';
import { serializeAdvertisement } from '../dist/core/advertisement.js';
import { advertisementSigningText, generateKeyPair, signText } from '../dist/core/signing.js';
import { signRecord } from '../dist/core/operator-record.js';
import { BIN, fmtMs, knob, median, progress, ratio, spread, timeOk, type Row } from './lib.js';

export interface ReindexScale {
  operators: number;
  ads: number;
  runs: number;
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const gitEnv = { ...process.env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' };
const gitOut = (dir: string, args: string[], input?: string) =>
  execFileSync('git', args, { cwd: dir, env: gitEnv, input, encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 }).trim();

/** `data <bytes>\n<content>\n` for fast-import. */
const data = (text: string) => `data ${Buffer.byteLength(text)}\n${text}\n`;

/**
 * One operator's remote: HUBS commits (one per hub, each adding that hub's CSV, all carrying the
 * signed operator record), then one annotated tag per hub and date on its hub's commit.
 */
export function makeRemote(root: string, operator: string, hubs: number, dates: number): string {
  const dir = join(root, `${operator}.git`);
  mkdirSync(dir, { recursive: true });
  gitOut(dir, ['init', '--quiet', '--bare', '-b', 'main']);
  gitOut(dir, ['config', 'uploadpack.allowFilter', 'true']);
  const url = `file://${dir}`;
  const pair = generateKeyPair();
  const record = signRecord({ operator, remote: url, publicKey: pair.publicKey, registeredAt: '2025-01-01T00:00:00.000Z' }, pair.privateKeyPem);
  let stream = '';
  for (let h = 0; h < hubs; h++) {
    const hub = `hub-${pad(h)}`;
    stream += `commit refs/heads/main\nmark :${h + 1}\ncommitter Bench <bench@example.org> ${1735689600 + h} +0000\n${data(`sync ${hub}`)}`;
    if (h > 0) stream += `from :${h}\n`;
    stream += `M 644 inline .syncer/operator.json\n${data(`${JSON.stringify(record, null, 2)}\n`)}`;
    stream += `M 644 inline ${hub}/data.csv\n${data(`station,value\n${operator},${h}\n`)}`;
  }
  gitOut(dir, ['fast-import', '--quiet'], stream);
  const commits = gitOut(dir, ['rev-list', '--reverse', 'main']).split('\n');
  let tags = '';
  for (let h = 0; h < hubs; h++) {
    for (let d = 0; d < dates; d++) {
      const hub = `hub-${pad(h)}`;
      const date = new Date(Date.UTC(2025, 0, 1) + d * 86_400_000).toISOString().slice(0, 10);
      const unsigned = {
        schema: 1 as const,
        hub,
        date,
        operator,
        remote: url,
        branch: 'main',
        commit: commits[h]!,
        tag: `syncer/${hub}/${date}`,
        path: hub,
        files: 1,
        bytes: 20,
        message: `sync ${hub} ${date}`,
        syncedAt: `${date}T09:00:00.000Z`,
        runId: randomUUID(),
      };
      const ad = { ...unsigned, signature: signText(advertisementSigningText(unsigned), pair.privateKeyPem) };
      tags += `tag syncer/${hub}/${date}\nfrom ${commits[h]}\ntagger Bench <bench@example.org> 1735689600 +0000\n${data(`${serializeAdvertisement(ad)}\n`)}`;
    }
  }
  gitOut(dir, ['fast-import', '--quiet'], tags);
  return url;
}

/** The git work alone, per remote, sequentially: what reindex cannot avoid. */
function gitFloor(root: string, urls: string[]): number {
  const start = process.hrtime.bigint();
  for (const url of urls) {
    const dir = mkdtempSync(join(root, 'floor-'));
    const git = (args: string[]) => {
      const r = spawnSync('git', args, { cwd: dir, env: gitEnv, encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`git ${args.join(' ')}: ${r.stderr}`);
    };
    git(['init', '--quiet', '--bare']);
    git(['remote', 'add', 'origin', url]);
    git(['ls-remote', '--refs', 'origin', 'refs/tags/syncer/*']);
    git(['fetch', '--quiet', '--no-tags', '--filter=blob:none', '--depth=1', 'origin', '+HEAD:refs/syncer/head']);
    git(['cat-file', 'blob', 'refs/syncer/head:.syncer/operator.json']);
    git(['fetch', '--quiet', '--no-tags', '--filter=tree:0', '--depth=1', 'origin', '+refs/tags/syncer/*:refs/tags/syncer/*']);
    git(['for-each-ref', '--format=%(objectname) %(contents:subject)', 'refs/tags/syncer/']);
    rmSync(dir, { recursive: true, force: true });
  }
  return Number(process.hrtime.bigint() - start) / 1e6;
}

export async function benchReindex(scale: ReindexScale): Promise<Row[]> {
  const base = process.env.BENCH_TMPDIR || tmpdir();
  const root = mkdtempSync(join(base, 'syncer-bench-reindex-'));
  const cluster = await startCluster(1);
  try {
    const hubs = Math.max(1, Math.round(Math.sqrt(scale.ads)));
    const dates = Math.ceil(scale.ads / hubs);
    const perOp = hubs * dates;
    const total = perOp * scale.operators;
    progress(`reindex: ${scale.operators} remotes x ${perOp} signed advertisements (${hubs} hubs x ${dates} dates)`);
    const genStart = Date.now();
    const remotes: string[] = [];
    for (let o = 0; o < scale.operators; o++) remotes.push(`op-${pad(o)} ${makeRemote(join(root, 'remotes'), `op-${pad(o)}`, hubs, dates)}`);
    progress(`  remotes made in ${fmtMs(Date.now() - genStart)}`);
    const file = join(root, 'remotes.txt');
    writeFileSync(file, `${remotes.join('\n')}\n`);
    const urls = remotes.map((l) => l.split(' ')[1]!);

    const cold: number[] = [];
    const warm: number[] = [];
    const floor: number[] = [];
    let check = '';
    for (let run = 0; run < scale.runs; run++) {
      const home = mkdtempSync(join(root, 'home-'));
      const env = { PATH: process.env.PATH, LANG: 'C.UTF-8', HOME: home, TMPDIR: root, SYNCER_ETCD_HOSTS: cluster.hosts, SYNCER_ETCD_NAMESPACE: `run${run}/` };
      progress(`  run ${run + 1}/${scale.runs}: syncer reindex into the empty namespace run${run}/`);
      const first = timeOk('syncer reindex', process.execPath, [BIN, 'reindex', '--remotes-file', file, '--json'], { env });
      const out = JSON.parse(first.stdout) as {
        added: number;
        markers: { added: number };
        operators: { added: string[] };
        transactions: number;
        skipped: unknown[];
      };
      if (out.added !== total || out.skipped.length) progress(`  warning: added ${out.added} of ${total}, ${out.skipped.length} skipped`);
      check = `${out.added} ads + ${out.markers.added} markers + ${out.operators.added.length} records in ${out.transactions} txns`;
      cold.push(first.ms);
      const second = timeOk('syncer reindex (again)', process.execPath, [BIN, 'reindex', '--remotes-file', file, '--json'], { env });
      const again = JSON.parse(second.stdout) as { added: number; updated: number; unchanged: number };
      if (again.added || again.updated || again.unchanged !== total) progress(`  warning: second run ${JSON.stringify(again)}`);
      warm.push(second.ms);
      floor.push(gitFloor(root, urls));
    }
    const n = (x: number) => x.toLocaleString('en-US');
    return [
      {
        area: 'reindex',
        what:
          `\`syncer reindex --remotes-file\`: ${scale.operators} file:// remotes x ${perOp} signed tags = ${n(total)} advertisements into an ` +
          `empty namespace (${check}), median (range) of ${scale.runs}`,
        result: spread(cold),
        reference:
          `the same git work alone, one remote after the other (ls-remote, fetch of the default branch without blobs + its operator.json, ` +
          `tag-only fetch, for-each-ref): ${spread(floor)}`,
        ratio: ratio(median(cold), median(floor)),
      },
      {
        area: 'reindex',
        what: `the same again: nothing to write (${n(total)} unchanged), median (range) of ${scale.runs}`,
        result: spread(warm),
        reference: `first run: ${fmtMs(median(cold))}`,
        ratio: ratio(median(warm), median(cold)),
      },
    ];
  } finally {
    await cluster.close();
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchReindex({ operators: knob('BENCH_REINDEX_OPERATORS', 10), ads: knob('BENCH_REINDEX_ADS', 100), runs: knob('BENCH_REINDEX_RUNS', 3) }).then(
    (rows) => {
      const esc = (s: string | undefined) => (s ?? '').replace(/\|/g, '\\|');
      for (const r of rows) process.stdout.write(`| ${[r.area, r.what, r.result, r.reference, r.ratio].map(esc).join(' | ')} |\n`);
      process.exit(0);
    },
    (e: unknown) => {
      progress(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      process.exit(1);
    },
  );
}
