/**
 * Search at scale (issue 14): a fresh etcd with BENCH_SEARCH_HUBS (100) x BENCH_SEARCH_DATES (100)
 * x BENCH_SEARCH_OPERATORS (10) = 100,000 signed advertisements, each with a `meta` summary (title,
 * description, keywords, licence, resource names) as `syncer sync` writes from a datapackage.json;
 * then `syncer search` over the whole registry (a rare keyword: one hub; a common keyword: every
 * dataset; a licence filter; a query that matches nothing), each against its floor: `etcdctl get
 * --prefix <ns>datasets/` (the same read) + node's start-up. Median (range) of BENCH_SEARCH_RUNS (3)
 * after one warm-up (which fills the verified-signature cache). Reported, never asserted.
 *
 *   npm run build && npx tsx bench/search-bench.ts      (BENCH_TMPDIR: where etcd keeps its data)
 */
import { createPrivateKey, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { startCluster } from '../test/helpers/etcd.js';
import { keys } from '../dist/core/keys.js';
import { parseAdvertisement, serializeAdvertisement } from '../dist/core/advertisement.js';
import { advertisementSigningText, generateKeyPair } from '../dist/core/signing.js';
import { signRecord } from '../dist/core/operator-record.js';
import { write } from './registry.js';
import { BIN, fmtMs, knob, median, progress, ratio, spread, timeOk, type Row } from './lib.js';

interface Scale {
  hubs: number;
  dates: number;
  operators: number;
  runs: number;
}

const pad = (n: number, w: number) => String(n).padStart(w, '0');
const hubName = (i: number) => `hub-${pad(i, 3)}`;
const dateName = (i: number) => new Date(Date.UTC(2025, 0, 1) + i * 86_400_000).toISOString().slice(0, 10);
const operatorName = (i: number) => `op-${pad(i, 2)}`;
const remoteOf = (operator: string) => `https://git.example.org/${operator}/research-data.git`;
const TOPICS = ['precipitation', 'temperature', 'snow', 'wind', 'soil', 'river', 'lake', 'air quality', 'radiation', 'humidity'];
const LICENSES = ['CC-BY-4.0', 'CC0-1.0', 'ODC-BY-1.0', 'ODbL-1.0'];

type Put = { key: Buffer; value: Buffer };

function generate(ns: string, scale: Scale): Put[][] {
  const k = keys(ns);
  const txns: Put[][] = [];
  const pairs = Array.from({ length: scale.operators }, () => generateKeyPair() as { privateKeyPem: string; publicKey: string });
  const parsed = new Map<string, KeyObject>();
  const signFast = (text: string, pem: string) => {
    let key = parsed.get(pem);
    if (!key) parsed.set(pem, (key = createPrivateKey(pem)));
    return `ed25519:${sign(null, Buffer.from(text), key).toString('base64')}`;
  };
  txns.push(
    pairs.map((pair, o) => {
      const operator = operatorName(o);
      const record = signRecord(
        { operator, remote: remoteOf(operator), publicKey: pair.publicKey, registeredAt: '2024-12-01T09:00:00.000Z' },
        pair.privateKeyPem,
      );
      return { key: Buffer.from(k.operator(operator)), value: Buffer.from(JSON.stringify(record)) };
    }),
  );
  let batch: Put[] = [];
  let seq = 0;
  for (let h = 0; h < scale.hubs; h++) {
    const hub = hubName(h);
    const topic = TOPICS[h % TOPICS.length]!;
    for (let d = 0; d < scale.dates; d++) {
      const date = dateName(d);
      for (let o = 0; o < scale.operators; o++) {
        const operator = operatorName(o);
        const files = 50 + (seq % 950);
        const unsigned = {
          schema: 1 as const,
          hub,
          date,
          operator,
          remote: remoteOf(operator),
          branch: 'main',
          commit: randomBytes(20).toString('hex'),
          tag: `syncer/${hub}/${date}`,
          path: hub,
          files,
          bytes: files * 1000,
          message: `sync ${hub} ${date}`,
          syncedAt: `${date}T${pad(8 + (seq % 12), 2)}:${pad(seq % 60, 2)}:00.000Z`,
          runId: randomUUID(),
          meta: {
            title: `${topic} observations of ${hub} by ${operator}`,
            description: `Daily ${topic} measurements from ${20 + (seq % 30)} stations; quality-checked.`,
            keywords: [topic, 'environment', `station-set-${h}`],
            licenses: [LICENSES[(h + o) % LICENSES.length]!],
            resources: ['stations', 'observations', `${hub}-daily`],
          },
        };
        seq++;
        const value = serializeAdvertisement({ ...unsigned, signature: signFast(advertisementSigningText(unsigned), pairs[o]!.privateKeyPem) });
        if (seq === 1 && !parseAdvertisement(value, { expect: { hub, date, operator } }).ok) throw new Error('generated advertisement is invalid');
        batch.push({ key: Buffer.from(k.dataset({ hub, date, operator })), value: Buffer.from(value) });
      }
      batch.push({ key: Buffer.from(k.dateIndex(hub, date)), value: Buffer.alloc(0) });
      if (batch.length + scale.operators + 1 > 128) {
        txns.push(batch);
        batch = [];
      }
    }
  }
  if (batch.length) txns.push(batch);
  return txns;
}

export async function benchSearch(scale: Scale): Promise<Row[]> {
  const ads = scale.hubs * scale.dates * scale.operators;
  const base = process.env.BENCH_TMPDIR || tmpdir();
  const home = mkdtempSync(join(base, 'syncer-search-bench-'));
  const cluster = await startCluster(1);
  const ns = 'bench/';
  try {
    progress(`search: populating ${ads.toLocaleString('en-US')} signed advertisements with meta`);
    const t0 = Date.now();
    const txns = generate(ns, scale);
    const genMs = Date.now() - t0;
    const pop = await write(cluster.endpoints, txns);
    progress(`  generated ${fmtMs(genMs)}, written ${fmtMs(pop.ms)}`);
    const env = { PATH: process.env.PATH, LANG: 'C.UTF-8', HOME: home, SYNCER_ETCD_HOSTS: cluster.hosts, SYNCER_ETCD_NAMESPACE: ns };
    const etcdEnv = { ...process.env, ETCDCTL_API: '3' };
    const syncer = (args: string[]) => timeOk(`syncer ${args.join(' ')}`, process.execPath, [BIN, ...args], { env });
    const floorRead = () =>
      timeOk('etcdctl get', 'etcdctl', ['--endpoints', cluster.endpoints[0]!, '--command-timeout=300s', 'get', '--prefix', keys(ns).datasetsPrefix], {
        env: etcdEnv,
      });
    const node = () => timeOk('node -e 0', process.execPath, ['-e', '0'], { env });
    const rows: Row[] = [];
    const cases: [string, string[]][] = [
      ['a rare keyword (one hub)', ['search', 'station-set-7', '--json', '--limit', '100000']],
      ['a common keyword (every dataset: each verified)', ['search', 'environment', '--json', '--limit', '100000']],
      ['two words and a licence', ['search', 'snow observations', '--license', 'CC0-1.0', '--json', '--limit', '100000']],
      ['no match', ['search', 'no-such-word', '--json']],
    ];
    for (const [what, args] of cases) {
      progress(`  syncer ${args.join(' ')} (${scale.runs} runs)`);
      const warm = syncer(args);
      const found = (JSON.parse(warm.stdout) as unknown[]).length;
      const ms: number[] = [];
      const floor: number[] = [];
      for (let i = 0; i < scale.runs; i++) {
        ms.push(syncer(args).ms);
        floor.push(floorRead().ms + node().ms);
      }
      rows.push({
        area: 'search',
        what: `\`syncer ${args.join(' ')}\` over ${ads.toLocaleString('en-US')} advertisements: ${what}; ${found} result(s), median (range) of ${scale.runs}`,
        result: spread(ms),
        reference: `etcdctl get --prefix ${keys(ns).datasetsPrefix} + node -e 0: ${fmtMs(median(floor))}`,
        ratio: ratio(median(ms), median(floor)),
      });
    }
    return rows;
  } finally {
    await cluster.close();
    rmSync(home, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  benchSearch({
    hubs: knob('BENCH_SEARCH_HUBS', 100),
    dates: knob('BENCH_SEARCH_DATES', 100),
    operators: knob('BENCH_SEARCH_OPERATORS', 10),
    runs: knob('BENCH_SEARCH_RUNS', 3),
  }).then(
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
