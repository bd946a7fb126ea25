/**
 * A dataset with git-lfs: one big file (BENCH_LFS_MB, default 1024 MB, random) and BENCH_LFS_SMALL
 * (1,000) ~1 KB CSV files. `syncer sync` and `syncer retrieve` against the same work done by hand
 * with git + git lfs + etcdctl (attributes, commit, tag, `git lfs push`, push, put; etcdctl get,
 * blob-less sparse clone, checkout with smudging skipped, `git lfs fetch --include`, `git lfs
 * checkout`). Both retrieved big files are checked against the original's sha-256 (not timed).
 *
 *   npm run build && npx tsx bench/lfs-bench.ts
 *
 * Knobs: BENCH_LFS_MB, BENCH_LFS_SMALL, BENCH_LFS_THRESHOLD_MIB (50), BENCH_TMPDIR (default /dev/shm
 * when it has room for ~5x the big file, else the temporary directory), BENCH_KEEP=1 keeps the work
 * directory. Prints markdown table rows on stdout, progress on stderr.
 */
import { closeSync, copyFileSync, createReadStream, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { loadavg, cpus } from 'node:os';
import { startCluster } from '../test/helpers/etcd.js';
import { keys } from '../dist/core/keys.js';
import { BIN, fmtMs, knob, overhead, progress, timeOk } from './lib.js';

const HUB = 'big';
const MB = knob('BENCH_LFS_MB', 1024);
const SMALL = knob('BENCH_LFS_SMALL', 1000);
const THRESHOLD = knob('BENCH_LFS_THRESHOLD_MIB', 50);

function base(): string {
  if (process.env.BENCH_TMPDIR) return process.env.BENCH_TMPDIR;
  try {
    const fs = statfsSync('/dev/shm');
    if (fs.bavail * fs.bsize > 5 * MB * 1024 * 1024 + 512 * 1024 * 1024) return '/dev/shm';
  } catch {
    /* no tmpfs */
  }
  return process.env.TMPDIR ?? '/tmp';
}

function writeRandom(path: string, mb: number): void {
  const fd = openSync(path, 'w');
  try {
    for (let left = mb; left > 0; left -= 16) writeSync(fd, randomBytes(Math.min(16, left) * 1024 * 1024));
  } finally {
    closeSync(fd);
  }
}

async function sha256(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

const PLAIN_SYNC = `
set -euo pipefail
cd "$REPO"
git lfs install --local --skip-repo >/dev/null
printf '/data.bin filter=lfs diff=lfs merge=lfs -text\\n' > ${HUB}/.gitattributes
git add ${HUB}
git commit --quiet -m "sync ${HUB} $DATE"
commit=$(git rev-parse HEAD)
json=$(printf '{"schema":1,"hub":"${HUB}","date":"%s","operator":"%s","remote":"%s","branch":"main","commit":"%s","tag":"syncer/${HUB}/%s","path":"${HUB}","files":%s,"bytes":%s,"message":"sync ${HUB} %s","syncedAt":"%s","runId":"plain-%s"}' \\
  "$DATE" "$OPERATOR" "$REMOTE" "$commit" "$DATE" "$FILES" "$BYTES" "$DATE" "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" "$$")
git tag -a -f -m "$json" "syncer/${HUB}/$DATE" "$commit"
git lfs push origin "$commit" 2>/dev/null
git push --quiet --atomic origin main "refs/tags/syncer/${HUB}/$DATE"
etcdctl --endpoints "$ENDPOINT" put "$KEY" "$json" >/dev/null
`;

const PLAIN_RETRIEVE = `
set -euo pipefail
ad=$(etcdctl --endpoints "$ENDPOINT" get --print-value-only "$KEY")
commit=$(printf '%s' "$ad" | sed -nE 's/.*"commit":"([0-9a-f]{40})".*/\\1/p')
remote=$(printf '%s' "$ad" | sed -nE 's/.*"remote":"([^"]*)".*/\\1/p')
git clone --quiet --filter=blob:none --no-checkout --sparse "$remote" "$DIR"
cd "$DIR"
git lfs install --local --skip-repo --skip-smudge >/dev/null
git sparse-checkout set ${HUB}
git -c advice.detachedHead=false checkout --quiet --detach "$commit"
git lfs fetch origin "$commit" --include='${HUB}/**' >/dev/null 2>&1
git lfs checkout ${HUB} >/dev/null 2>&1
`;

async function main(): Promise<void> {
  const root = mkdtempSync(join(base(), 'syncer-lfs-bench-'));
  process.env.TMPDIR = root; // the World's repositories go there too
  const { World, baseEnv } = await import('../test/helpers/world.js');
  const cluster = await startCluster(1);
  const ns = `lfsbench${Date.now().toString(36)}/`;
  const world = new World(cluster.hosts, ns);
  const k = keys(ns);
  const load: string[] = [];
  const sample = () => load.push(loadavg()[0]!.toFixed(2));
  try {
    progress(`lfs: ${MB} MB file + ${SMALL} small files in ${root}, threshold ${THRESHOLD} MiB`);
    const [s, peer] = await Promise.all([world.operator('lfs-s'), world.operator('lfs-peer')]);
    const p = await world.operator('lfs-p', { init: false });
    const small: Record<string, string> = {};
    let bytes = MB * 1024 * 1024;
    for (let i = 0; i < SMALL; i++) {
      const body = `id,value\n${i},${randomBytes(480).toString('hex')}\n`;
      small[`${HUB}/small/part-${String(i % 10)}/f-${String(i).padStart(5, '0')}.csv`] = body;
      bytes += body.length;
    }
    s.write(small);
    p.write(small);
    progress('  writing the big file');
    writeRandom(join(s.repo, HUB, 'data.bin'), MB);
    copyFileSync(join(s.repo, HUB, 'data.bin'), join(p.repo, HUB, 'data.bin'));
    const want = await sha256(join(s.repo, HUB, 'data.bin'));

    const env = { ...s.env, SYNCER_LFS_THRESHOLD_MIB: String(THRESHOLD) };
    sample();
    const ss = timeOk('syncer sync', process.execPath, [BIN, 'sync', '--hub', HUB, '--json'], { env: baseEnv(env), cwd: s.repo });
    const date = (JSON.parse(ss.stdout) as { date: string }).date;
    progress(`    syncer sync     ${fmtMs(ss.ms)}`);
    sample();
    const plainEnv = (op: typeof p, extra: Record<string, string>) => baseEnv({ ...op.env, ETCDCTL_API: '3', ENDPOINT: cluster.endpoints[0]!, ...extra });
    const ps = timeOk('plain sync', 'bash', ['-c', PLAIN_SYNC], {
      env: plainEnv(p, {
        REPO: p.repo,
        DATE: date,
        OPERATOR: p.name,
        REMOTE: p.remoteUrl,
        FILES: String(SMALL + 2),
        BYTES: String(bytes),
        KEY: k.dataset({ hub: HUB, date, operator: p.name }),
      }),
    });
    progress(`    plain sync      ${fmtMs(ps.ms)}`);
    sample();
    const sInto = join(world.root, 'retrieved', 'syncer');
    const sr = timeOk('syncer retrieve', process.execPath, [BIN, 'retrieve', '--hub', HUB, '--date', date, '--operator', s.name, '--into', sInto, '--json'], {
      env: baseEnv(peer.env),
    });
    progress(`    syncer retrieve ${fmtMs(sr.ms)}`);
    sample();
    const pInto = join(world.root, 'retrieved', 'plain');
    const pr = timeOk('plain retrieve', 'bash', ['-c', PLAIN_RETRIEVE], {
      env: plainEnv(peer, { DIR: pInto, KEY: k.dataset({ hub: HUB, date, operator: p.name }) }),
      cwd: world.root,
    });
    progress(`    plain retrieve  ${fmtMs(pr.ms)}`);
    sample();
    const ok = [
      (await sha256(join(sInto, HUB, 'data.bin'))) === want ? 'syncer ok' : 'syncer MISMATCH',
      (await sha256(join(pInto, HUB, 'data.bin'))) === want ? 'plain ok' : 'plain MISMATCH',
    ];
    const size = `1 file of ${MB} MB + ${SMALL.toLocaleString('en-US')} files of ~1 KB`;
    const machine = `load avg (1 min) ${load.join(' / ')}, ${cpus().length} cores, ${base() === '/dev/shm' || root.startsWith('/dev/shm') ? 'tmpfs' : 'disk'}`;
    const rows = [
      `| lfs | \`syncer sync\` (${size}; LFS push before branch+tag, advertise) | ${fmtMs(ss.ms)} | git lfs install/attributes/add/commit/tag + \`git ` +
        `lfs push\` + push + \`etcdctl put\`: ${fmtMs(ps.ms)} | ${overhead(ss.ms, ps.ms)} |`,
      `| lfs | \`syncer retrieve\` of it (blob-less, sparse; LFS objects of the path only; content ${ok.join(', ')}) | ${fmtMs(sr.ms)} | \`etcdctl ` +
        `get\` + blob-less sparse clone + checkout (smudge skipped) + \`git lfs fetch --include\` + \`git lfs checkout\`: ${fmtMs(pr.ms)} | ` +
        `${overhead(sr.ms, pr.ms)} |`,
      `| lfs | machine during the runs | ${machine} | | |`,
    ];
    process.stdout.write(`${rows.join('\n')}\n`);
  } finally {
    await cluster.close();
    if (process.env.BENCH_KEEP !== '1') {
      world.cleanup();
      rmSync(root, { recursive: true, force: true });
    } else progress(`kept ${root}`);
  }
}

main().catch((e) => {
  process.stderr.write(`lfs bench failed: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
