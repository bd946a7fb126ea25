/**
 * watch latency: a fresh etcd (startCluster(1)), one `syncer watch` process following the
 * namespace, and N signed advertisements (valid: the real key layout, schema and signature, with
 * the operator's signed record in the registry, so the watcher verifies each one as in real use)
 * written one at a time with the etcd3 client. For each, the time from just before the put to the
 * event line naming that key arriving on the watcher's stdout. Reference: a plain etcd3 watcher in
 * this process, fed by the same puts (what etcd and gRPC cost before syncer does anything).
 *
 * Standalone: `npx tsx bench/watch-latency.ts` (run `npm run build` first: it measures dist/).
 * Prints a markdown table on stdout, progress on stderr. Exports benchWatchLatency() for
 * bench/main.ts. Knobs: BENCH_WATCH_N [200], BENCH_WATCH_WARMUP [5] (not counted).
 */
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Etcd3 } from 'etcd3';
import { startCluster } from '../test/helpers/etcd.js';
import { keys } from '../dist/core/keys.js';
import { parseAdvertisement, serializeAdvertisement } from '../dist/core/advertisement.js';
import { advertisementSigningText, generateKeyPair, signText } from '../dist/core/signing.js';
import { signRecord } from '../dist/core/operator-record.js';
import { BIN, fmtMs, knob, median, percentile, progress, ratio, renderTable, type Row } from './lib.js';

const OPERATOR = 'op-bench';
const REMOTE = 'https://git.example.org/op-bench/research-data.git';
const now = () => Number(process.hrtime.bigint()) / 1e6;

/** The i-th advertisement: hub-NN on consecutive dates, signed with the operator's key. */
function advertisement(i: number, privateKeyPem: string) {
  const hub = `hub-${String(i % 10).padStart(2, '0')}`;
  const date = new Date(Date.UTC(2025, 0, 1) + Math.floor(i / 10) * 86_400_000).toISOString().slice(0, 10);
  const unsigned = {
    schema: 1 as const,
    hub,
    date,
    operator: OPERATOR,
    remote: REMOTE,
    branch: 'main',
    commit: randomBytes(20).toString('hex'),
    tag: `syncer/${hub}/${date}`,
    path: hub,
    files: 10 + i,
    bytes: 1000 * (10 + i),
    message: `sync ${hub} ${date}`,
    syncedAt: `${date}T12:00:00.000Z`,
    runId: randomUUID(),
  };
  return { ...unsigned, signature: signText(advertisementSigningText(unsigned), privateKeyPem) };
}

/** Waiters for a key's first appearance, fed by a stream of (key, time) sightings. */
class Arrivals {
  private readonly seen = new Map<string, number>();
  private readonly waiting = new Map<string, (t: number) => void>();
  saw(key: string, t: number): void {
    if (this.seen.has(key)) return;
    this.seen.set(key, t);
    this.waiting.get(key)?.(t);
  }
  wait(key: string, timeoutMs: number, what: () => string): Promise<number> {
    const t = this.seen.get(key);
    if (t !== undefined) return Promise.resolve(t);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no event for ${key} within ${timeoutMs} ms\n${what()}`)), timeoutMs);
      this.waiting.set(key, (at) => {
        clearTimeout(timer);
        this.waiting.delete(key);
        resolve(at);
      });
    });
  }
}

export async function benchWatchLatency(n: number, warmup: number): Promise<{ rows: Row[]; syncer: number[]; reference: number[] }> {
  progress(`watch latency: starting etcd`);
  const cluster = await startCluster(1);
  const home = mkdtempSync(join(tmpdir(), 'syncer-bench-watch-'));
  const ns = 'bench-watch/';
  const k = keys(ns);
  const client = new Etcd3({ hosts: cluster.endpoints });
  let child: ReturnType<typeof spawn> | undefined;
  let stderr = '';
  try {
    // The operator's signed record, as `syncer sync` registers it: the watcher verifies against it.
    const pair = generateKeyPair();
    const record = signRecord({ operator: OPERATOR, remote: REMOTE, publicKey: pair.publicKey, registeredAt: '2024-12-01T09:00:00.000Z' }, pair.privateKeyPem);
    await client.put(k.operator(OPERATOR)).value(JSON.stringify(record));
    const check = parseAdvertisement(serializeAdvertisement(advertisement(0, pair.privateKeyPem)), {
      expect: { hub: 'hub-00', date: '2025-01-01', operator: OPERATOR },
    });
    if (!check.ok) throw new Error(`generated advertisement is invalid: ${check.problem}`);

    // Reference: a plain etcd3 watcher on the same prefix, in this process.
    const reference = new Arrivals();
    const refWatcher = await client.watch().prefix(k.datasetsPrefix).create();
    refWatcher.on('put', (kv) => reference.saw(kv.key.toString(), now()));

    // The watcher: its own HOME (TOFU pins), registry from the environment, position in a temp file.
    const env = { PATH: process.env.PATH, LANG: 'C.UTF-8', HOME: home, SYNCER_ETCD_HOSTS: cluster.hosts, SYNCER_ETCD_NAMESPACE: ns };
    child = spawn(process.execPath, [BIN, 'watch', '--state', join(home, 'state.json')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const events = new Arrivals();
    let partial = '';
    let badLines = 0;
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => {
      const t = now();
      partial += d;
      const lines = partial.split('\n');
      partial = lines.pop()!;
      for (const line of lines) {
        try {
          const id = (JSON.parse(line) as { id: string }).id;
          events.saw(id.slice(0, id.lastIndexOf('@')), t);
        } catch {
          badLines += 1;
        }
      }
    });
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (d: string) => (stderr += d));
    const exited = new Promise<void>((resolve) => child!.once('exit', () => resolve()));
    const deadline = Date.now() + 20_000;
    while (!/watching /.test(stderr)) {
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the watcher did not start:\n${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }

    progress(`watch latency: ${warmup} warm-up + ${n} advertisements, one at a time`);
    const syncerMs: number[] = [];
    const referenceMs: number[] = [];
    for (let i = 0; i < warmup + n; i++) {
      const ad = advertisement(i, pair.privateKeyPem);
      const key = k.dataset(ad);
      const value = serializeAdvertisement(ad);
      const t0 = now();
      await client.put(key).value(value);
      const [tEvent, tRef] = await Promise.all([events.wait(key, 15_000, () => stderr.slice(-2000)), reference.wait(key, 15_000, () => '')]);
      if (i >= warmup) {
        syncerMs.push(tEvent - t0);
        referenceMs.push(tRef - t0);
      }
      if ((i + 1) % 50 === 0) progress(`  ${i + 1}/${warmup + n}`);
    }
    if (badLines) throw new Error(`${badLines} stdout line(s) of the watcher were not JSON`);
    if (/warning/.test(stderr)) progress(`watcher warnings:\n${stderr}`);
    await refWatcher.cancel();
    child.kill('SIGTERM');
    await exited;

    const m = median(syncerMs);
    const rm = median(referenceMs);
    const p99 = percentile(syncerMs, 99);
    const rp99 = percentile(referenceMs, 99);
    const rows: Row[] = [
      {
        area: 'watch',
        what: `put → event line on the watcher's stdout, median of ${n} signed advertisements`,
        result: fmtMsFine(m),
        reference: `${fmtMsFine(rm)} (etcd3 watch in-process)`,
        ratio: ratio(m, rm),
      },
      { area: 'watch', what: `same, p99`, result: fmtMsFine(p99), reference: fmtMsFine(rp99), ratio: ratio(p99, rp99) },
      {
        area: 'watch',
        what: `same, min / max`,
        result: `${fmtMsFine(Math.min(...syncerMs))} / ${fmtMsFine(Math.max(...syncerMs))}`,
        reference: `${fmtMsFine(Math.min(...referenceMs))} / ${fmtMsFine(Math.max(...referenceMs))}`,
      },
    ];
    return { rows, syncer: syncerMs, reference: referenceMs };
  } finally {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    client.close();
    await cluster.close();
    rmSync(home, { recursive: true, force: true });
  }
}

/** Sub-10 ms values with one decimal (fmtMs rounds to whole ms). */
const fmtMsFine = (ms: number) => (ms < 10 ? `${ms.toFixed(1)} ms` : fmtMs(ms));

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const { rows } = await benchWatchLatency(knob('BENCH_WATCH_N', 200), knob('BENCH_WATCH_WARMUP', 5));
  process.stdout.write(renderTable(rows));
  process.exit(0);
}
