/**
 * mirror at scale (the issue's figure): time and disk used to mirror OPERATORS x DATES dataset
 * versions (small changes between dates) against the sum of their full clones.
 *
 * Setup (fast, not via hundreds of CLI syncs): a fresh etcd (startCluster(1)); OPERATORS operators,
 * each with an ed25519 key, a working repo holding `<hub>/` (FILES CSV files of ~FILE_KB KB of
 * random-ish numbers, in 10 directories) and a bare `file://` remote (uploadpack.allowFilter true).
 * For each date, as `syncer sync` does it (src/commands/sync/publish.ts): change CHANGES files a
 * little, commit (the first commit also carries the signed `.syncer/operator.json`), tag
 * `syncer/<hub>/<date>` annotated with the signed advertisement as its message, push branch + tag
 * (--atomic, one push per date, so the remotes hold what real syncs leave: one pack and many loose
 * objects). Then the advertisements, their index markers and the signed operator records are written
 * to etcd with the etcd3 client (txns of <= 128 ops).
 *
 * Measured: `syncer mirror --to <archive> --initial-sync-limit DATES --json` (fresh HOME: keys are
 * pinned on first use, so every signature must verify), its disk (`du -sb`, `git count-objects -v`),
 * a second run (nothing new); against the sum over every version of a full clone of its operator's
 * remote at its tag (`git clone --no-local --branch <tag>`, deleted after measuring; optionally the
 * same with `--single-branch`: only that tag's history), and against git alone (the same fetches
 * into a fresh bare repo) and one bare clone per operator (what de-duplication can reach). The
 * archive is then checked against what was made: one annotated tag per version under
 * refs/tags/<operator>/<hub>/<date>, pointing at the version's commit and carrying its
 * advertisement, and full history (`git fsck --connectivity-only`).
 *
 * Standalone: `npx tsx bench/mirror-bench.ts` (run `npm run build` first: it measures dist/).
 * Prints a markdown table on stdout, progress on stderr. Knobs: BENCH_MIRROR_OPERATORS [10],
 * BENCH_MIRROR_DATES [50], BENCH_MIRROR_FILES [200], BENCH_MIRROR_FILE_KB [5],
 * BENCH_MIRROR_CHANGES [3] (files changed per date), BENCH_MIRROR_SINGLE_BRANCH [0] (1: add the
 * --single-branch baseline, ~1 min more), BENCH_TMPDIR (default: /dev/shm when it has room, like
 * run.sh), BENCH_KEEP=1 (keep the work directory).
 */
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Etcd3 } from 'etcd3';
import { startCluster } from '../test/helpers/etcd.js';
import { keys } from '../dist/core/keys.js';
import { parseAdvertisement, serializeAdvertisement } from '../dist/core/advertisement.js';
import { advertisementSigningText, generateKeyPair, signText } from '../dist/core/signing.js';
import { planOperatorRecord } from '../dist/core/operator-record.js';
import { BIN, fmtMs, knob, progress, ratio, renderTable, timeCommand, type Row } from './lib.js';

const run = promisify(execFile);

export interface MirrorScale {
  operators: number;
  dates: number;
  files: number;
  fileKb: number;
  changes: number;
  singleBranch: boolean;
}

const HUB = 'weather';
const NAMESPACE = 'bench-mirror/';
const MAX_TXN_OPS = 128;
const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const dateName = (d: number) => new Date(Date.UTC(2025, 0, 1) + d * 86_400_000).toISOString().slice(0, 10);
const operatorName = (o: number) => `op-${pad(o)}`;
const tagOf = (date: string) => `syncer/${HUB}/${date}`;

/** A fresh HOME and no system/global git config: the user's git setup stays out of it. */
function gitEnvFor(home: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    LANG: 'C.UTF-8',
    HOME: home,
    GIT_CONFIG_NOSYSTEM: '1',
    GIT_CONFIG_GLOBAL: '/dev/null',
    GIT_TERMINAL_PROMPT: '0',
    GIT_AUTHOR_NAME: 'Bench',
    GIT_AUTHOR_EMAIL: 'bench@example.org',
    GIT_COMMITTER_NAME: 'Bench',
    GIT_COMMITTER_EMAIL: 'bench@example.org',
  };
}

/** Deterministic PRNG (mulberry32), one stream per operator. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One CSV row of random-ish measurements (~55 bytes; zlib gets ~2x on these, not 100x). */
function row(rand: () => number, station: string, day: number): string {
  const h = Math.floor(rand() * 24);
  const m = Math.floor(rand() * 60);
  return `${station},${dateName(day)}T${pad(h)}:${pad(m)},${(rand() * 40 - 10).toFixed(3)},${(950 + rand() * 100).toFixed(2)},${(rand() * 100).toFixed(1)},${(rand() * 30).toFixed(2)}\n`;
}

const HEADER = 'station,time,temp_c,pressure_hpa,humidity_pct,wind_ms\n';

interface Version {
  operator: string;
  date: string;
  commit: string;
  remote: string;
  /** The advertisement as written to etcd and to the tag message. */
  value: string;
}

interface Operator {
  name: string;
  bare: string;
  url: string;
  recordValue: string;
  versions: Version[];
}

/**
 * One operator: key, signed record, working repo + bare remote, DATES commits/tags/pushes. Runs git
 * asynchronously so operators can be built in parallel.
 */
async function makeOperator(root: string, o: number, scale: MirrorScale): Promise<Operator> {
  const name = operatorName(o);
  const home = join(root, 'homes', name);
  const work = join(root, 'work', name);
  const bare = join(root, 'remotes', `${name}.git`);
  for (const d of [home, work, bare]) mkdirSync(d, { recursive: true });
  const url = `file://${bare}`;
  const baseEnv = gitEnvFor(home);
  const git = async (cwd: string, args: string[], when?: string) => {
    const env = when ? { ...baseEnv, GIT_AUTHOR_DATE: when, GIT_COMMITTER_DATE: when } : baseEnv;
    return (await run('git', args, { cwd, env, maxBuffer: 64 * 1024 * 1024 })).stdout.trim();
  };
  await git(bare, ['init', '--quiet', '--bare', '-b', 'main']);
  await git(bare, ['config', 'uploadpack.allowFilter', 'true']);
  await git(work, ['init', '--quiet', '-b', 'main']);
  await git(work, ['remote', 'add', 'origin', url]);

  // The key and the operator record, as `syncer init`/sync make them (planOperatorRecord, no record yet).
  const pair = generateKeyPair();
  const { record } = planOperatorRecord(undefined, pair, name, url, new Date(Date.UTC(2024, 11, 31, 12)));
  mkdirSync(join(work, '.syncer'), { recursive: true });
  writeFileSync(join(work, '.syncer', 'operator.json'), `${JSON.stringify(record, null, 2)}\n`);

  // The dataset: FILES files in 10 directories, each ~FILE_KB KB.
  const rand = prng(0x5eed + o * 7919);
  const rowsPerFile = Math.max(1, Math.round((scale.fileKb * 1024 - HEADER.length) / 55));
  const contents: string[][] = [];
  const paths: string[] = [];
  const dirs = Math.min(10, scale.files);
  for (let f = 0; f < scale.files; f++) {
    const station = `st-${pad(o)}-${pad(f, 3)}`;
    const dir = join(HUB, `region-${pad(f % dirs)}`);
    mkdirSync(join(work, dir), { recursive: true });
    paths.push(join(dir, `${station}.csv`));
    contents.push(Array.from({ length: rowsPerFile }, () => row(rand, station, 0)));
  }
  const write = (f: number) => writeFileSync(join(work, paths[f]!), HEADER + contents[f]!.join(''));
  for (let f = 0; f < paths.length; f++) write(f);

  const versions: Version[] = [];
  for (let d = 0; d < scale.dates; d++) {
    const date = dateName(d);
    if (d > 0) {
      // Small changes: CHANGES files each get 3 rows corrected and 1 row appended.
      const picked = new Set<number>();
      while (picked.size < Math.min(scale.changes, scale.files)) picked.add(Math.floor(rand() * scale.files));
      for (const f of picked) {
        const rows = contents[f]!;
        const station = `st-${pad(o)}-${pad(f, 3)}`;
        for (let k = 0; k < 3; k++) rows[Math.floor(rand() * rows.length)] = row(rand, station, d);
        rows.push(row(rand, station, d));
        write(f);
      }
    }
    const syncedAt = `${date}T09:${pad(o % 60)}:00.000Z`;
    const when = `${date}T09:${pad(o % 60)}:00Z`;
    const message = `sync ${HUB} ${date}`;
    // New files only on the first date; afterwards the pathspec commit takes the changed tracked files.
    if (d === 0) await git(work, ['add', '-A', '--', HUB, '.syncer/operator.json']);
    await git(work, ['commit', '--quiet', '--no-verify', '-m', message, '--', HUB, '.syncer/operator.json'], when);
    const commit = await git(work, ['rev-parse', 'HEAD']);
    const bytes = contents.reduce((n, rows) => n + Buffer.byteLength(HEADER + rows.join('')), 0);
    const unsigned = {
      schema: 1 as const,
      hub: HUB,
      date,
      operator: name,
      remote: url,
      branch: 'main',
      commit,
      tag: tagOf(date),
      path: HUB,
      files: scale.files,
      bytes,
      message,
      syncedAt,
      runId: randomUUID(),
    };
    const ad = { ...unsigned, signature: signText(advertisementSigningText(unsigned), pair.privateKeyPem) };
    const value = serializeAdvertisement(ad);
    await git(work, ['tag', '-a', '-f', '-m', value, tagOf(date), commit], when);
    await git(work, ['push', '--quiet', '--atomic', '--', 'origin', 'refs/heads/main:refs/heads/main', `+refs/tags/${tagOf(date)}:refs/tags/${tagOf(date)}`]);
    versions.push({ operator: name, date, commit, remote: url, value });
  }
  // Spot-check realism: the tree size in the advertisement is git's, and syncer parses what we wrote.
  const last = versions[versions.length - 1]!;
  const lsTree = await git(work, ['ls-tree', '-r', '-l', last.commit, '--', HUB]);
  const treeBytes = lsTree.split('\n').reduce((n, l) => n + Number(/^\d+ blob \S+\s+(\d+)\t/.exec(l)?.[1] ?? 0), 0);
  const parsed = parseAdvertisement(last.value, { expect: { hub: HUB, date: last.date, operator: name } });
  if (!parsed.ok || !parsed.ad) throw new Error(`generated advertisement is invalid: ${parsed.problem}`);
  if (parsed.ad.bytes !== treeBytes) throw new Error(`advertised ${parsed.ad.bytes} bytes, git's tree has ${treeBytes}`);
  return { name, bare, url, recordValue: JSON.stringify(record), versions };
}

/** Advertisements + index markers (same txn per date, as `advertise` writes them), records first. */
async function writeRegistry(hosts: string[], ops: Operator[], dates: number): Promise<{ puts: number; txns: number }> {
  const k = keys(NAMESPACE);
  type Put = { key: string; value: string };
  const txns: Put[][] = [];
  const records: Put[] = ops.map((op) => ({ key: k.operator(op.name), value: op.recordValue }));
  for (let i = 0; i < records.length; i += MAX_TXN_OPS) txns.push(records.slice(i, i + MAX_TXN_OPS));
  const groupOps = ops.length + 1;
  if (groupOps > MAX_TXN_OPS) throw new Error(`${ops.length} operators do not fit one txn of ${MAX_TXN_OPS} ops`);
  let batch: Put[] = [];
  for (let d = 0; d < dates; d++) {
    if (batch.length + groupOps > MAX_TXN_OPS) {
      txns.push(batch);
      batch = [];
    }
    for (const op of ops) {
      const v = op.versions[d]!;
      batch.push({ key: k.dataset({ hub: HUB, date: v.date, operator: op.name }), value: v.value });
    }
    batch.push({ key: k.dateIndex(HUB, dateName(d)), value: '' });
  }
  if (batch.length) txns.push(batch);
  const client = new Etcd3({ hosts });
  try {
    for (const ops of txns) {
      await client.kv.txn({
        compare: [],
        success: ops.map((op) => ({ request_put: { key: Buffer.from(op.key), value: Buffer.from(op.value) } })),
        failure: [],
      });
    }
  } finally {
    client.close();
  }
  return { puts: txns.reduce((n, t) => n + t.length, 0), txns: txns.length };
}

function du(path: string): number {
  const out = execFileSync('du', ['-sb', path], { encoding: 'utf8' });
  return Number(out.split('\t')[0]);
}

/** `git count-objects -v` as numbers (sizes in KiB, as git prints them). */
function countObjects(repo: string, env: NodeJS.ProcessEnv): Record<string, number> {
  const out = execFileSync('git', ['count-objects', '-v'], { cwd: repo, env, encoding: 'utf8' });
  return Object.fromEntries(
    out
      .trim()
      .split('\n')
      .map((l) => {
        const [key, value] = l.split(': ');
        return [key!, Number(value)];
      }),
  );
}

export function fmtBytes(b: number): string {
  if (b >= 1024 * 1024 * 1024) return `${(b / 1024 / 1024 / 1024).toFixed(2)} GiB`;
  if (b >= 1024 * 1024) return `${(b / 1024 / 1024).toFixed(1)} MiB`;
  if (b >= 1024) return `${(b / 1024).toFixed(0)} KiB`;
  return `${b} B`;
}

interface CloneSum {
  ms: number;
  total: number;
  dotGit: number;
  objects: number;
  count: number;
}

/** Clone every version from its operator's remote at its tag, measure, delete. */
function cloneAll(root: string, ops: Operator[], env: NodeJS.ProcessEnv, extra: string[], label: string): CloneSum {
  const sum: CloneSum = { ms: 0, total: 0, dotGit: 0, objects: 0, count: 0 };
  const dir = join(root, 'clone');
  const n = ops.reduce((s, op) => s + op.versions.length, 0);
  let lastReport = Date.now();
  for (const op of ops) {
    for (const v of op.versions) {
      rmSync(dir, { recursive: true, force: true });
      const t = timeCommand(
        'git',
        ['-c', 'advice.detachedHead=false', 'clone', '--quiet', '--no-local', '--template=', ...extra, '--branch', tagOf(v.date), op.url, dir],
        { env },
      );
      if (t.code !== 0) throw new Error(`git clone ${op.url} ${tagOf(v.date)} exited ${t.code}: ${t.stderr}`);
      sum.ms += t.ms;
      sum.total += du(dir);
      sum.dotGit += du(join(dir, '.git'));
      sum.objects += du(join(dir, '.git', 'objects'));
      sum.count++;
      if (Date.now() - lastReport > 10_000) {
        lastReport = Date.now();
        progress(`  ${label}: ${sum.count}/${n} clones`);
      }
    }
  }
  rmSync(dir, { recursive: true, force: true });
  return sum;
}

function defaultBase(): string {
  if (process.env.BENCH_TMPDIR) return process.env.BENCH_TMPDIR;
  try {
    const fs = statfsSync('/dev/shm');
    if (existsSync('/dev/shm') && fs.bavail * fs.bsize > 2 * 1024 * 1024 * 1024) return '/dev/shm';
  } catch {
    // no tmpfs: the default temporary directory
  }
  return tmpdir();
}

export async function benchMirror(scale: MirrorScale): Promise<Row[]> {
  const base = defaultBase();
  const root = mkdtempSync(join(base, 'syncer-bench-mirror-'));
  const storage = (() => {
    try {
      return `${execFileSync('df', ['-PT', root], { encoding: 'utf8' }).split('\n')[1]!.split(/\s+/)[1]} at ${base}`;
    } catch {
      return base;
    }
  })();
  const load = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  const cluster = await startCluster(1);
  const n = (x: number) => x.toLocaleString('en-US');
  try {
    const versions = scale.operators * scale.dates;
    progress(
      `mirror: ${scale.operators} operators x ${scale.dates} dates = ${versions} versions of ${HUB}/ (${scale.files} files x ~${scale.fileKb} KB, ` +
        `${scale.changes} files changed per date), in ${root}`,
    );

    // --- setup -----------------------------------------------------------------------------
    const setupStart = Date.now();
    const ops: Operator[] = new Array(scale.operators);
    let next = 0;
    let done = 0;
    const worker = async () => {
      while (next < scale.operators) {
        const o = next++;
        ops[o] = await makeOperator(root, o, scale);
        progress(`  operator ${operatorName(o)}: ${scale.dates} commits, tags, pushes (${++done}/${scale.operators})`);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(availableParallelism(), 4)) }, worker));
    const gitSetupMs = Date.now() - setupStart;
    const reg = await writeRegistry(cluster.endpoints, ops, scale.dates);
    const setupMs = Date.now() - setupStart;
    progress(`  setup done in ${fmtMs(setupMs)} (git ${fmtMs(gitSetupMs)}; etcd ${reg.puts} keys in ${reg.txns} txns)`);
    const remotesBytes = ops.reduce((s, op) => s + du(op.bare), 0);

    // --- syncer mirror -----------------------------------------------------------------------
    const home = mkdtempSync(join(root, 'mirror-home-'));
    const archive = join(root, 'archive.git');
    const env = { PATH: process.env.PATH, LANG: 'C.UTF-8', HOME: home, TMPDIR: root, SYNCER_ETCD_HOSTS: cluster.hosts, SYNCER_ETCD_NAMESPACE: NAMESPACE };
    const args = [BIN, 'mirror', '--to', archive, '--initial-sync-limit', String(scale.dates), '--json'];
    progress(`  syncer mirror --to archive.git --initial-sync-limit ${scale.dates} (first run)`);
    const first = timeCommand(process.execPath, args, { env });
    if (first.code !== 0) progress(`  warning: mirror exited ${first.code}: ${first.stderr.trim().split('\n').slice(-5).join(' / ')}`);
    const warnings = first.stderr.split('\n').filter((l) => l.trim()).length;
    if (warnings) progress(`  mirror stderr (${warnings} lines): ${first.stderr.trim().split('\n').slice(0, 3).join(' / ')}`);
    type Out = { counts: { mirrored: number; 'in-progress': number; unknown: number }; changes: { status: string }[]; archive: string };
    const parse = (stdout: string): Out | undefined => {
      try {
        return JSON.parse(stdout) as Out;
      } catch {
        return undefined;
      }
    };
    const out1 = parse(first.stdout);
    const mirroredChanges = out1?.changes.filter((c) => c.status === 'mirrored').length ?? 0;
    if (out1?.counts.mirrored !== versions || mirroredChanges !== versions) {
      progress(`  warning: first run reports ${out1?.counts.mirrored ?? '?'} mirrored (${mirroredChanges} changes), expected ${versions}`);
    }
    const stateBranch = (repo: string) =>
      spawnSync('git', ['rev-parse', '--verify', '--quiet', 'refs/heads/syncer-mirror'], { cwd: repo, env: gitEnvFor(home), encoding: 'utf8' }).stdout.trim();
    const headAfterFirst = stateBranch(archive);

    const archiveBytes = du(archive);
    const archiveObjects = du(join(archive, 'objects'));
    const objects = countObjects(archive, gitEnvFor(home));
    const hooksBytes = existsSync(join(archive, 'hooks')) ? du(join(archive, 'hooks')) : 0;

    progress('  syncer mirror again (nothing new)');
    const second = timeCommand(process.execPath, args, { env });
    if (second.code !== 0) progress(`  warning: second mirror exited ${second.code}: ${second.stderr.trim().split('\n').slice(-3).join(' / ')}`);
    const out2 = parse(second.stdout);
    const headAfterSecond = stateBranch(archive);
    const rerunNote = `${out2?.changes.length ?? '?'} changes, state branch ${headAfterSecond === headAfterFirst ? 'unchanged' : 'MOVED'}`;
    if (out2?.changes.length !== 0 || headAfterSecond !== headAfterFirst) progress(`  warning: second run: ${rerunNote}`);

    // The git work alone: the same one fetch per remote (same refspecs) into a fresh bare repo.
    progress('  git alone: one fetch per remote into a fresh bare repository');
    const floorRepo = join(root, 'floor.git');
    const floorEnv = gitEnvFor(home);
    execFileSync('git', ['init', '--quiet', '--bare', floorRepo], { env: floorEnv });
    let floorMs = 0;
    for (const op of ops) {
      const refspecs = op.versions.map((v) => `+refs/tags/${tagOf(v.date)}:refs/tags/${op.name}/${HUB}/${v.date}`);
      const t = timeCommand('git', ['fetch', '--quiet', '--no-tags', '--no-write-fetch-head', '--', op.url, ...refspecs], { cwd: floorRepo, env: floorEnv });
      if (t.code !== 0) throw new Error(`git fetch ${op.url} exited ${t.code}: ${t.stderr}`);
      floorMs += t.ms;
    }
    const floorBytes = du(floorRepo);
    rmSync(floorRepo, { recursive: true, force: true });

    // --- verify the archive against what was made ---------------------------------------------
    const refs = execFileSync('git', ['for-each-ref', '--format=%(refname)%00%(objecttype)%00%(*objectname)%00%(contents)%01', 'refs/tags/'], {
      cwd: archive,
      env: gitEnvFor(home),
      encoding: 'utf8',
      maxBuffer: 64 * 1024 * 1024,
    })
      .split('\x01')
      .map((r) => r.replace(/^\n/, ''))
      .filter(Boolean)
      .map((r) => {
        const [ref, type, peeled, contents] = r.split('\0');
        return { ref: ref!, type: type!, peeled: peeled!, contents: (contents ?? '').trim() };
      });
    const byRef = new Map(refs.map((r) => [r.ref, r]));
    let good = 0;
    const bad: string[] = [];
    for (const op of ops) {
      for (const v of op.versions) {
        const ref = `refs/tags/${op.name}/${HUB}/${v.date}`;
        const r = byRef.get(ref);
        if (!r) bad.push(`${ref}: missing`);
        else if (r.type !== 'tag') bad.push(`${ref}: a ${r.type}, not an annotated tag`);
        else if (r.peeled !== v.commit) bad.push(`${ref}: points to ${r.peeled.slice(0, 12)}, made ${v.commit.slice(0, 12)}`);
        else if (r.contents !== v.value) bad.push(`${ref}: message differs from the advertisement`);
        else good++;
      }
    }
    const stray = refs.length - good - bad.filter((b) => !b.endsWith('missing')).length;
    const fsck = spawnSync('git', ['fsck', '--connectivity-only', '--no-dangling'], { cwd: archive, env: gitEnvFor(home), encoding: 'utf8' });
    const fsckOk = fsck.status === 0;
    if (bad.length) progress(`  warning: ${bad.length} archive tags wrong, e.g. ${bad.slice(0, 3).join('; ')}`);
    if (!fsckOk) progress(`  warning: git fsck --connectivity-only failed: ${fsck.stderr.split('\n').slice(0, 3).join(' / ')}`);
    const verifyText = `${good}/${versions} annotated tags under refs/tags/<op>/${HUB}/<date> at the made commits with the made advertisements${
      bad.length ? ` (${bad.length} wrong: ${bad[0]})` : ''
    }; ${refs.length} tags in all${stray ? ` (${stray} unexpected)` : ''}; fsck --connectivity-only ${fsckOk ? 'ok' : 'FAILED'}; state branch ${headAfterFirst ? 'present' : 'MISSING'}`;

    // --- baselines -------------------------------------------------------------------------
    const cloneEnv = gitEnvFor(join(root, 'homes', 'cloner'));
    mkdirSync(join(root, 'homes', 'cloner'), { recursive: true });
    progress(`  baseline: ${versions} full clones (git clone --no-local --branch <tag>)`);
    const full = cloneAll(root, ops, cloneEnv, [], 'full clones');
    progress(`  done: ${fmtBytes(full.total)} in ${fmtMs(full.ms)}`);
    let single: CloneSum | undefined;
    if (scale.singleBranch) {
      progress(`  baseline: ${versions} clones with --single-branch (history up to the tag only)`);
      single = cloneAll(root, ops, cloneEnv, ['--single-branch'], 'single-branch clones');
      progress(`  done: ${fmtBytes(single.total)} in ${fmtMs(single.ms)}`);
    }
    // What de-duplication can reach at best: one bare clone per operator (every tag, once).
    let perOperatorBytes = 0;
    for (const op of ops) {
      const dir = join(root, 'clone-bare.git');
      rmSync(dir, { recursive: true, force: true });
      execFileSync('git', ['clone', '--quiet', '--bare', '--no-local', '--template=', op.url, dir], { env: cloneEnv });
      perOperatorBytes += du(dir);
      rmSync(dir, { recursive: true, force: true });
    }

    const packBytes = (objects['size-pack'] ?? 0) * 1024;
    const datasetBytes = ops[0]!.versions.length ? (JSON.parse(ops[0]!.versions[ops[0]!.versions.length - 1]!.value).bytes as number) : 0;
    const rows: Row[] = [
      {
        area: 'mirror',
        what:
          `setup: ${scale.operators} operators x ${scale.dates} dates = ${n(versions)} versions of \`${HUB}/\` (${scale.files} CSV files, ` +
          `${fmtBytes(datasetBytes)} per version, ${scale.changes} files changed per date: 3 rows rewritten + 1 appended); one commit + annotated ` +
          `signed tag + push per date to a bare file:// remote; ${reg.puts} etcd keys in ${reg.txns} txns`,
        result: `${fmtMs(setupMs)}`,
        reference: `${storage}; load at start ${load}; the ${scale.operators} remotes take ${fmtBytes(remotesBytes)}`,
      },
      {
        area: 'mirror',
        what:
          `\`syncer mirror --to <archive> --initial-sync-limit ${scale.dates} --json\`, fresh HOME (keys pinned on first use): ` +
          `${out1?.counts.mirrored ?? '?'} mirrored, ${out1?.changes.length ?? '?'} changes, exit ${first.code}${warnings ? `, ${warnings} stderr lines` : ''}`,
        result: fmtMs(first.ms),
        reference: `${n(full.count)} full clones (\`git clone --no-local --branch <tag>\`), sequential: ${fmtMs(full.ms)}`,
        ratio: ratio(first.ms, full.ms),
      },
      {
        area: 'mirror',
        what:
          `reference for the first run: git alone, the same ${scale.operators} fetches (one per remote, ${scale.dates} tag refspecs each) into a ` +
          `fresh bare repo, sequential; no registry, no checks (it takes ${fmtBytes(floorBytes)})`,
        result: fmtMs(first.ms),
        reference: fmtMs(floorMs),
        ratio: ratio(first.ms, floorMs),
      },
      {
        area: 'mirror',
        what: `the same again: nothing new (${rerunNote}), exit ${second.code}`,
        result: fmtMs(second.ms),
        reference: `first run: ${fmtMs(first.ms)}`,
        ratio: ratio(second.ms, first.ms),
      },
      {
        area: 'mirror',
        what:
          `disk: archive (\`du -sb\`, bare, incl. ${fmtBytes(hooksBytes)} of sample hooks) vs the sum of ${n(full.count)} full clones (\`du -sb\` ` +
          `of each clone dir = .git + checkout; each clone holds all of its remote's refs and history; cloned with \`--template=\` so no sample ` +
          `hooks; deleted after measuring)`,
        result: fmtBytes(archiveBytes),
        reference: `${fmtBytes(full.total)} (.git ${fmtBytes(full.dotGit)} + checkouts ${fmtBytes(full.total - full.dotGit)})`,
        ratio: ratio(archiveBytes, full.total),
      },
      {
        area: 'mirror',
        what:
          `disk, git objects only (\`du -sb objects/\`): archive (${objects.packs ?? '?'} packs, size-pack ${fmtBytes(packBytes)}; ` +
          `${objects.count ?? '?'} loose objects) vs the sum of the clones' .git/objects`,
        result: fmtBytes(archiveObjects),
        reference: fmtBytes(full.objects),
        ratio: ratio(archiveObjects, full.objects),
      },
    ];
    if (single) {
      rows.push({
        area: 'mirror',
        what:
          `disk vs the smaller baseline: the sum of ${n(single.count)} \`--single-branch\` clones (only the history up to each tag), .git + ` +
          `checkout; clone time ${fmtMs(single.ms)}`,
        result: fmtBytes(archiveBytes),
        reference: `${fmtBytes(single.total)} (.git ${fmtBytes(single.dotGit)} + checkouts ${fmtBytes(single.total - single.dotGit)})`,
        ratio: ratio(archiveBytes, single.total),
      });
    }
    rows.push(
      {
        area: 'mirror',
        what: `disk vs the floor of de-duplication: one bare clone per operator (all ${scale.dates} tags, \`git clone --bare --no-local\`), summed`,
        result: fmtBytes(archiveBytes),
        reference: fmtBytes(perOperatorBytes),
        ratio: ratio(archiveBytes, perOperatorBytes),
      },
      {
        area: 'mirror',
        what: 'check: the archive against what was made',
        result: good === versions && !bad.length && fsckOk ? 'ok' : 'MISMATCH',
        reference: verifyText,
      },
    );
    return rows;
  } finally {
    await cluster.close();
    if (process.env.BENCH_KEEP === '1') progress(`  kept ${root}`);
    else rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (!existsSync(join(BIN, '..', '..', 'dist', 'commands', 'mirror', 'index.js'))) {
    progress('dist/ has no mirror command: run `npm run build` first');
    process.exit(2);
  }
  const started = Date.now();
  benchMirror({
    operators: knob('BENCH_MIRROR_OPERATORS', 10),
    dates: knob('BENCH_MIRROR_DATES', 50),
    files: knob('BENCH_MIRROR_FILES', 200),
    fileKb: knob('BENCH_MIRROR_FILE_KB', 5),
    changes: knob('BENCH_MIRROR_CHANGES', 3),
    singleBranch: process.env.BENCH_MIRROR_SINGLE_BRANCH === '1',
  }).then(
    (rows) => {
      process.stdout.write(renderTable(rows));
      progress(`done in ${fmtMs(Date.now() - started)}`);
      process.exit(0);
    },
    (e: unknown) => {
      progress(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
      process.exit(1);
    },
  );
}
