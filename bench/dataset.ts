/**
 * A big dataset (FILES small CSV files in 100 subdirectories of `<repo>/big/`): `syncer sync` and
 * `syncer retrieve` against the same work done by hand with git + etcdctl. Each round uses fresh
 * operators (one for syncer, one for plain git, same files, same starting state) and alternates
 * which goes first, so page-cache and background effects fall on both alike.
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { baseEnv, World, type Operator } from '../test/helpers/world.js';
import { keys } from '../dist/core/keys.js';
import { BIN, fmtMs, median, progress, overhead, spread, timeOk, waitForGc, type Row } from './lib.js';

export interface DatasetScale {
  files: number;
  rounds: number;
  /** Files changed before the re-sync. */
  changed: number;
}

const HUB = 'big';
/** The small dataset (where start-up and process count are all there is). */
const SMALL_HUB = 'small';
const SMALL = 10;
const DIRS = 100;

/** Deterministic ~1 KB CSV, different for every file (identical content would be one git blob). */
function csv(index: number): string {
  let x = (index + 1) * 2654435761;
  const rnd = () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
  const lines = ['station,timestamp,temperature,humidity,pressure'];
  for (let i = 0; lines.join('\n').length < 980; i++) {
    const t = new Date(Date.UTC(2025, 0, 1) + (index * 24 + i) * 3_600_000).toISOString();
    lines.push(`st-${index % 997},${t},${(rnd() * 40 - 10).toFixed(2)},${(rnd() * 100).toFixed(1)},${(950 + rnd() * 100).toFixed(1)}`);
  }
  return `${lines.join('\n')}\n`;
}

const fileName = (i: number, perDir: number) =>
  `${HUB}/part-${String(Math.floor(i / perDir)).padStart(3, '0')}/rows-${String(i % perDir).padStart(4, '0')}.csv`;

function writeDataset(op: Operator, files: number): { bytes: number } {
  const perDir = Math.ceil(files / DIRS);
  const content: Record<string, string> = {};
  let bytes = 0;
  for (let i = 0; i < files; i++) {
    const body = csv(i);
    bytes += Buffer.byteLength(body);
    content[fileName(i, perDir)] = body;
  }
  op.write(content);
  return { bytes };
}

/**
 * The small change of a re-sync: `changed` files spread over the directories rewritten with other
 * rows (`round` makes each round's change new). The dataset's bytes after it.
 */
function changeDataset(op: Operator, files: number, changed: number, round: number, bytesBefore: number): number {
  const perDir = Math.ceil(files / DIRS);
  const step = Math.max(1, Math.floor(files / changed));
  const content: Record<string, string> = {};
  let bytes = bytesBefore;
  for (let i = 0; i < files && Object.keys(content).length < changed; i += step) {
    const body = csv(files * (round + 1) + i);
    bytes += Buffer.byteLength(body) - Buffer.byteLength(csv(i));
    content[fileName(i, perDir)] = body;
  }
  op.write(content);
  return bytes;
}

function countFiles(dir: string): number {
  let n = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) if (entry.isFile()) n++;
  return n;
}

function duBytes(dir: string): number {
  let n = 0;
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile()) n += statSync(join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name)).size;
  }
  return n;
}

const PLAIN_SYNC = `
set -euo pipefail
cd "$REPO"
git add "$HUB"
git commit --quiet -m "sync $HUB $DATE"
commit=$(git rev-parse HEAD)
json=$(printf '{"schema":1,"hub":"%s","date":"%s","operator":"%s","remote":"%s","branch":"main","commit":"%s","tag":"syncer/%s/%s","path":"%s","files":%s,"bytes":%s,"message":"sync %s %s","syncedAt":"%s","runId":"plain-%s"}' \\
  "$HUB" "$DATE" "$OPERATOR" "$REMOTE" "$commit" "$HUB" "$DATE" "$HUB" "$FILES" "$BYTES" "$HUB" "$DATE" "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" "$$")
git tag -a -f -m "$json" "syncer/$HUB/$DATE" "$commit"
git push --quiet origin main "+refs/tags/syncer/$HUB/$DATE"
etcdctl --endpoints "$ENDPOINT" --command-timeout=120s put "$KEY" "$json" >/dev/null
`;

const PLAIN_RETRIEVE = `
set -euo pipefail
ad=$(etcdctl --endpoints "$ENDPOINT" --command-timeout=120s get --print-value-only "$KEY")
commit=$(printf '%s' "$ad" | sed -nE 's/.*"commit":"([0-9a-f]{40})".*/\\1/p')
remote=$(printf '%s' "$ad" | sed -nE 's/.*"remote":"([^"]*)".*/\\1/p')
git clone --quiet --filter=blob:none --no-checkout --sparse "$remote" "$DIR"
git -C "$DIR" sparse-checkout set $HUB
git -C "$DIR" -c advice.detachedHead=false checkout --quiet --detach "$commit"
`;

export async function benchDataset(cluster: { endpoints: string[]; hosts: string }, ns: string, scale: DatasetScale): Promise<Row[]> {
  const world = new World(cluster.hosts, ns);
  const k = keys(ns);
  // The plain runs get the same environment shape as syncer's (baseEnv: PATH, LANG, a fresh HOME).
  const plainEnv = (op: Operator, extra: Record<string, string>) => baseEnv({ ...op.env, ETCDCTL_API: '3', ENDPOINT: cluster.endpoints[0]!, ...extra });
  const times = {
    syncerSync: [] as number[],
    plainSync: [] as number[],
    syncerResync: [] as number[],
    plainResync: [] as number[],
    syncerRetrieve: [] as number[],
    plainRetrieve: [] as number[],
    syncerSmall: [] as number[],
    plainSmall: [] as number[],
  };
  const notes: string[] = [];
  let datasetBytes = 0;
  try {
    progress(`dataset: ${scale.rounds} round(s) of sync + retrieve of ${scale.files} files, syncer vs git + etcdctl`);
    const peer = await world.operator('bench-peer');
    for (let r = 0; r < scale.rounds; r++) {
      const s = await world.operator(`bench-s${r}`);
      const p = await world.operator(`bench-p${r}`, { init: false });
      progress(`  round ${r + 1}: writing ${scale.files} files into two repositories`);
      datasetBytes = writeDataset(s, scale.files).bytes;
      writeDataset(p, scale.files);
      let date = new Date().toISOString().slice(0, 10);
      let changedBytes = datasetBytes;

      // `re`: the re-sync after changing scale.changed files (same date: the tag moves).
      const syncerSync = async (re = false) => {
        const label = re ? 'syncer re-sync' : 'syncer sync';
        const t = timeOk(label, process.execPath, [BIN, 'sync', '--hub', HUB, '--json'], { env: baseEnv(s.env), cwd: s.repo });
        const res = JSON.parse(t.stdout) as { date: string; files: number; bytes: number; committed: boolean };
        date = res.date;
        if (res.files !== scale.files) notes.push(`${label} advertised ${res.files} files`);
        if (res.bytes !== (re ? changedBytes : datasetBytes)) notes.push(`${label} advertised ${res.bytes} bytes`);
        if (!res.committed) notes.push(`${label} committed nothing`);
        (re ? times.syncerResync : times.syncerSync).push(t.ms);
        progress(`    ${label.padEnd(15)} ${fmtMs(t.ms)}`);
        await waitForGc(s.repo);
      };
      const plainSync = async (re = false) => {
        const env = plainEnv(p, {
          REPO: p.repo,
          DATE: date,
          OPERATOR: p.name,
          REMOTE: p.remoteUrl,
          FILES: String(scale.files),
          BYTES: String(re ? changedBytes : datasetBytes),
          KEY: k.dataset({ hub: HUB, date, operator: p.name }),
          HUB,
        });
        const label = re ? 'plain re-sync' : 'plain sync';
        const t = timeOk(label, 'bash', ['-c', PLAIN_SYNC], { env });
        (re ? times.plainResync : times.plainSync).push(t.ms);
        progress(`    ${label.padEnd(15)} ${fmtMs(t.ms)}`);
        await waitForGc(p.repo);
      };
      /** Retrieve `hub` (`files` files) with syncer, or by hand (`small`: the 10-file dataset's times). */
      const syncerRetrieve = async (hub = HUB, files = scale.files) => {
        const into = join(world.root, 'retrieved', `syncer-${hub}-${r}`);
        const t = timeOk('syncer retrieve', process.execPath, [BIN, 'retrieve', '--hub', hub, '--date', date, '--operator', s.name, '--into', into, '--json'], {
          env: baseEnv(peer.env),
        });
        (hub === HUB ? times.syncerRetrieve : times.syncerSmall).push(t.ms);
        const n = countFiles(join(into, hub));
        if (n !== files) notes.push(`syncer retrieve of ${hub} checked out ${n} files`);
        progress(`    syncer retrieve ${fmtMs(t.ms)} (${n} files, .git ${(duBytes(join(into, '.git')) / 1e6).toFixed(1)} MB)`);
      };
      const plainRetrieve = async (hub = HUB, files = scale.files) => {
        const dir = join(world.root, 'retrieved', `plain-${hub}-${r}`);
        const t = timeOk('plain retrieve', 'bash', ['-c', PLAIN_RETRIEVE], {
          env: plainEnv(peer, { DIR: dir, KEY: k.dataset({ hub, date, operator: p.name }), HUB: hub }),
          cwd: world.root,
        });
        (hub === HUB ? times.plainRetrieve : times.plainSmall).push(t.ms);
        const n = countFiles(join(dir, hub));
        if (n !== files) notes.push(`plain retrieve of ${hub} checked out ${n} files`);
        progress(`    plain retrieve  ${fmtMs(t.ms)} (${n} files, .git ${(duBytes(join(dir, '.git')) / 1e6).toFixed(1)} MB)`);
      };
      /** The small dataset: SMALL files in `small/`, synced once by each side (not timed), then retrieved. */
      const smallDataset = async () => {
        const content: Record<string, string> = {};
        let bytes = 0;
        for (let i = 0; i < SMALL; i++) {
          const body = csv(10_000_000 + r * SMALL + i);
          bytes += Buffer.byteLength(body);
          content[`${SMALL_HUB}/rows-${i}.csv`] = body;
        }
        s.write(content);
        p.write(content);
        timeOk('syncer sync small', process.execPath, [BIN, 'sync', '--hub', SMALL_HUB, '--json'], { env: baseEnv(s.env), cwd: s.repo });
        const env = plainEnv(p, {
          REPO: p.repo,
          DATE: date,
          OPERATOR: p.name,
          REMOTE: p.remoteUrl,
          FILES: String(SMALL),
          BYTES: String(bytes),
          KEY: k.dataset({ hub: SMALL_HUB, date, operator: p.name }),
          HUB: SMALL_HUB,
        });
        timeOk('plain sync small', 'bash', ['-c', PLAIN_SYNC], { env });
        const pair = r % 2 === 0 ? [syncerRetrieve, plainRetrieve] : [plainRetrieve, syncerRetrieve];
        for (const f of pair) await f(SMALL_HUB, SMALL);
      };

      // Alternate who goes first. The plain sync needs the date, which the syncer sync reports;
      // both use today's UTC date.
      if (r % 2 === 0) {
        await syncerSync();
        await plainSync();
        await syncerRetrieve();
        await plainRetrieve();
      } else {
        await plainSync();
        await syncerSync();
        await plainRetrieve();
        await syncerRetrieve();
      }
      changedBytes = changeDataset(s, scale.files, scale.changed, r, datasetBytes);
      changeDataset(p, scale.files, scale.changed, r, datasetBytes);
      if (r % 2 === 0) {
        await syncerSync(true);
        await plainSync(true);
      } else {
        await plainSync(true);
        await syncerSync(true);
      }
      await smallDataset();
    }
  } finally {
    world.cleanup();
  }
  const m = {
    syncerSync: median(times.syncerSync),
    plainSync: median(times.plainSync),
    syncerResync: median(times.syncerResync),
    plainResync: median(times.plainResync),
    syncerRetrieve: median(times.syncerRetrieve),
    plainRetrieve: median(times.plainRetrieve),
    syncerSmall: median(times.syncerSmall),
    plainSmall: median(times.plainSmall),
  };
  const of = scale.rounds > 1 ? `, median (range) of ${scale.rounds}` : '';
  const size = `${scale.files.toLocaleString('en-US')} files, ${(datasetBytes / 1e6).toFixed(1)} MB`;
  const note = notes.length ? ` (${[...new Set(notes)].join('; ')})` : '';
  return [
    {
      area: 'dataset',
      what: `\`syncer sync --hub big\` (${size}: commit, tag, push, advertise)${of}${note}`,
      result: spread(times.syncerSync),
      reference: `git add/commit/tag -a/push + \`etcdctl put\`: ${spread(times.plainSync)}`,
      ratio: overhead(m.syncerSync, m.plainSync),
    },
    {
      area: 'dataset',
      what: `re-sync after changing ${scale.changed} of the files (same date: a new commit, the tag moved)${of}`,
      result: spread(times.syncerResync),
      reference: `the same by hand (tag pushed with +): ${spread(times.plainResync)}`,
      ratio: overhead(m.syncerResync, m.plainResync),
    },
    {
      area: 'dataset',
      what: `\`syncer retrieve\` of it (blob-less, sparse, detached)${of}`,
      result: spread(times.syncerRetrieve),
      reference: `\`etcdctl get\` + \`git clone --filter=blob:none --no-checkout --sparse\` + sparse-checkout set + checkout: ${spread(times.plainRetrieve)}`,
      ratio: overhead(m.syncerRetrieve, m.plainRetrieve),
    },
    {
      area: 'dataset',
      what: `\`syncer retrieve\` of a ${SMALL}-file dataset in the same repository (start-up and processes)${of}`,
      result: spread(times.syncerSmall),
      reference: `the same by hand: ${spread(times.plainSmall)}`,
      ratio: overhead(m.syncerSmall, m.plainSmall),
    },
  ];
}
