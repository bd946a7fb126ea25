/**
 * Registry scale: populate a fresh etcd with HUBS x DATES x OPERATORS advertisements (valid JSON,
 * the real key layout, the index markers written in the same transaction as their hub+date's
 * advertisements, <= 128 ops a txn), then time the real `syncer ls` against etcdctl.
 */
import { createPrivateKey, randomBytes, randomUUID, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
// The real key layout and schema, from the build (bench measures what ships).
import { keys } from '../dist/core/keys.js';
import { parseAdvertisement, serializeAdvertisement } from '../dist/core/advertisement.js';
import { advertisementSigningText, generateKeyPair, signText } from '../dist/core/signing.js';
import { signRecord } from '../dist/core/operator-record.js';
import { BIN, fmtMs, median, peakRssMb, progress, ratio, spread, timeOk, type Row } from './lib.js';

export interface RegistryScale {
  hubs: number;
  dates: number;
  operators: number;
  runs: number;
}

const MAX_TXN_OPS = 128;
const IN_FLIGHT = 8;

const pad = (n: number, w: number) => String(n).padStart(w, '0');

export function hubName(i: number): string {
  return `hub-${pad(i, 2)}`;
}

export function dateName(i: number): string {
  return new Date(Date.UTC(2025, 0, 1) + i * 86_400_000).toISOString().slice(0, 10);
}

export function operatorName(i: number): string {
  return `op-${pad(i, 2)}`;
}

interface KeyPair {
  privateKeyPem: string;
  publicKey: string;
}

/**
 * signText parses the PEM on every call (~0.4 ms); 100k signatures want the parsed key. Ed25519
 * is deterministic, so the fast path is checked to give signText's exact bytes before it is used.
 */
const parsedKeys = new Map<string, KeyObject>();
let fastSigning: boolean | undefined;
function signFast(text: string, pair: KeyPair): string {
  const viaSyncer = () => signText(text, pair.privateKeyPem) as string;
  if (fastSigning === false) return viaSyncer();
  let key = parsedKeys.get(pair.privateKeyPem);
  if (!key) parsedKeys.set(pair.privateKeyPem, (key = createPrivateKey(pair.privateKeyPem)));
  const fast = `ed25519:${sign(null, Buffer.from(text), key).toString('base64')}`;
  if (fastSigning === undefined) {
    fastSigning = fast === viaSyncer();
    if (!fastSigning) return viaSyncer();
  }
  return fast;
}

/** An advertisement as `syncer sync` writes it: signed with the operator's key. */
function advertisement(hub: string, date: string, operator: string, seq: number, pair: KeyPair) {
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
    bytes: files * (900 + (seq % 300)),
    message: `sync ${hub} ${date}`,
    syncedAt: `${date}T${pad(8 + (seq % 12), 2)}:${pad(seq % 60, 2)}:${pad((seq * 7) % 60, 2)}.000Z`,
    runId: randomUUID(),
  };
  return { ...unsigned, signature: signFast(advertisementSigningText(unsigned), pair) };
}

const remoteOf = (operator: string) => `https://git.example.org/${operator}/research-data.git`;

type Put = { key: Buffer; value: Buffer };

/**
 * Everything to write, grouped in txns of <= MAX_TXN_OPS: each hub+date's advertisements travel
 * with their index marker (as `advertise` writes them), and the signed operator records first.
 */
export function generate(ns: string, scale: RegistryScale): Put[][] {
  const k = keys(ns);
  const groupOps = scale.operators + 1;
  if (groupOps > MAX_TXN_OPS) throw new Error(`${scale.operators} operators do not fit one txn of ${MAX_TXN_OPS} ops`);
  const groupsPerTxn = Math.floor(MAX_TXN_OPS / groupOps);
  const pairs: KeyPair[] = [];
  const txns: Put[][] = [];
  let records: Put[] = [];
  for (let o = 0; o < scale.operators; o++) {
    const operator = operatorName(o);
    const pair = generateKeyPair() as KeyPair;
    pairs.push(pair);
    const record = signRecord(
      { operator, remote: remoteOf(operator), publicKey: pair.publicKey, registeredAt: '2024-12-01T09:00:00.000Z' },
      pair.privateKeyPem,
    );
    records.push({ key: Buffer.from(k.operator(operator)), value: Buffer.from(JSON.stringify(record)) });
    if (records.length === MAX_TXN_OPS) {
      txns.push(records);
      records = [];
    }
  }
  if (records.length) txns.push(records);

  let batch: Put[] = [];
  let groups = 0;
  let seq = 0;
  for (let h = 0; h < scale.hubs; h++) {
    for (let d = 0; d < scale.dates; d++) {
      const hub = hubName(h);
      const date = dateName(d);
      for (let o = 0; o < scale.operators; o++) {
        const operator = operatorName(o);
        const value = serializeAdvertisement(advertisement(hub, date, operator, seq++, pairs[o]!));
        if (o === 0) {
          // Spot-check realism: what we write is what syncer itself accepts.
          const parsed = parseAdvertisement(value, { expect: { hub, date, operator } });
          if (!parsed.ok) throw new Error(`generated advertisement is invalid: ${parsed.problem}`);
        }
        batch.push({ key: Buffer.from(k.dataset({ hub, date, operator })), value: Buffer.from(value) });
      }
      batch.push({ key: Buffer.from(k.dateIndex(hub, date)), value: Buffer.alloc(0) });
      if (++groups === groupsPerTxn) {
        txns.push(batch);
        batch = [];
        groups = 0;
      }
    }
  }
  if (batch.length) txns.push(batch);
  return txns;
}

/** Write the txns, IN_FLIGHT at a time; returns the time taken. */
export async function write(hosts: string[], txns: Put[][]): Promise<{ ms: number; puts: number }> {
  const client = new Etcd3({ hosts, grpcOptions: { 'grpc.max_receive_message_length': 64 * 1024 * 1024 } });
  const total = txns.reduce((n, t) => n + t.length, 0);
  const start = process.hrtime.bigint();
  let puts = 0;
  let next = 0;
  let lastReport = Date.now();
  const worker = async () => {
    while (next < txns.length) {
      const ops = txns[next++]!;
      await client.kv.txn({ compare: [], success: ops.map((op) => ({ request_put: { key: op.key, value: op.value } })), failure: [] });
      puts += ops.length;
      if (Date.now() - lastReport > 5000) {
        lastReport = Date.now();
        progress(`  written ${puts}/${total} keys`);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  } finally {
    client.close();
  }
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, puts };
}

function dbSize(endpoint: string): string {
  try {
    const out = timeOk('etcdctl endpoint status', 'etcdctl', ['--endpoints', endpoint, 'endpoint', 'status', '--write-out=json'], {
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    const status = JSON.parse(out.stdout) as { Status: { dbSize: number } }[];
    return `${(status[0]!.Status.dbSize / 1024 / 1024).toFixed(0)} MiB db`;
  } catch {
    return 'db size unknown';
  }
}

export async function benchRegistry(cluster: { endpoints: string[]; hosts: string }, ns: string, scale: RegistryScale): Promise<Row[]> {
  const ads = scale.hubs * scale.dates * scale.operators;
  const markers = scale.hubs * scale.dates;
  progress(`registry: populating ${ads} advertisements + ${markers} index markers (${scale.hubs} hubs x ${scale.dates} dates x ${scale.operators} operators)`);
  const genStart = Date.now();
  const txns = generate(ns, scale);
  const genMs = Date.now() - genStart;
  progress(`  generated and signed in ${fmtMs(genMs)}; writing ${txns.length} txns`);
  const pop = { ...(await write(cluster.endpoints, txns)), txns: txns.length };
  txns.length = 0;
  progress(`  written in ${fmtMs(pop.ms)}`);

  const home = mkdtempSync(join(tmpdir(), 'syncer-bench-home-'));
  const env = {
    PATH: process.env.PATH,
    LANG: 'C.UTF-8',
    HOME: home,
    SYNCER_ETCD_HOSTS: cluster.hosts,
    SYNCER_ETCD_NAMESPACE: ns,
  };
  const etcdEnv = { ...process.env, ETCDCTL_API: '3' };
  const syncer = (label: string, args: string[]) => timeOk(label, process.execPath, [BIN, ...args], { env });
  const etcdctl = (label: string, args: string[]) =>
    timeOk(label, 'etcdctl', ['--endpoints', cluster.endpoints[0]!, '--command-timeout=120s', ...args], { env: etcdEnv });
  /** Median of `runs` timings after one warm-up; `check` looks at the warm-up's output. */
  const measure = (label: string, fn: () => { ms: number; stdout: string }, check?: (stdout: string) => string | undefined) => {
    progress(`  ${label} (${scale.runs} runs)`);
    const warm = fn();
    const note = check?.(warm.stdout);
    if (note) progress(`  warning: ${label}: ${note}`);
    const ms: number[] = [];
    for (let i = 0; i < scale.runs; i++) ms.push(fn().ms);
    return { median: median(ms), text: spread(ms), note };
  };
  const floorRun = () => timeOk('node -e 0', process.execPath, ['-e', '0'], { env });
  /**
   * syncer against its floor (`node -e 0` + the same read with etcdctl), after one warm-up each
   * (the verified-signature cache fills then): `runs` rounds of the three, alternating the order
   * so drift in the machine's load falls on both sides alike; medians. Peak memory from one more
   * run of each (GNU time's maximum RSS).
   */
  const paired = (label: string, args: string[], ref: string[]) => {
    progress(`  ${label} against node -e 0 + etcdctl ${ref.join(' ')} (${scale.runs} alternating rounds)`);
    const run = { syncer: () => syncer(label, args), etcdctl: () => etcdctl(`etcdctl ${ref.join(' ')}`, ref), node: floorRun };
    for (const f of Object.values(run)) f();
    const ms = { syncer: [] as number[], etcdctl: [] as number[], node: [] as number[] };
    for (let i = 0; i < scale.runs; i++) {
      const order = (['syncer', 'etcdctl', 'node'] as const).slice();
      if (i % 2) order.reverse();
      for (const which of order) ms[which].push(run[which]().ms);
    }
    const floor = ms.etcdctl.map((e, i) => e + ms.node[i]!);
    const rss = {
      syncer: peakRssMb(process.execPath, [BIN, ...args], { env }),
      etcdctl: peakRssMb('etcdctl', ['--endpoints', cluster.endpoints[0]!, '--command-timeout=120s', ...ref], { env: etcdEnv }),
      node: peakRssMb(process.execPath, ['-e', '0'], { env }),
    };
    const mb = (x: number) => `${x.toFixed(0)} MB`;
    const memory =
      rss.syncer !== undefined && rss.etcdctl !== undefined && rss.node !== undefined
        ? { text: mb(rss.syncer), reference: `${mb(rss.etcdctl)} + ${mb(rss.node)}`, ratio: ratio(rss.syncer, rss.etcdctl + rss.node) }
        : undefined;
    return {
      median: median(ms.syncer),
      text: spread(ms.syncer),
      floor: median(floor),
      reference: `${spread(ms.etcdctl)} + \`node -e 0\` ${fmtMs(median(ms.node))}`,
      memory,
    };
  };

  const hub = hubName(Math.floor(scale.hubs / 2));
  const date = dateName(Math.floor(scale.dates / 2));
  const k = keys(ns);
  try {
    // Correctness of what we time (reported, not asserted).
    const hubsJson = JSON.parse(syncer('syncer ls --json', ['ls', '--json']).stdout) as { hub: string; dates: number }[];
    const datesJson = JSON.parse(syncer('syncer ls hub --json', ['ls', hub, '--json']).stdout) as { date: string; operators: string[] }[];
    const entriesRun = syncer('syncer ls hub date --json', ['ls', hub, date, '--json']);
    const entriesJson = JSON.parse(entriesRun.stdout) as unknown[];
    if (entriesJson.length !== scale.operators) {
      progress(`  warning: syncer ls ${hub} ${date} listed ${entriesJson.length} of ${scale.operators}: ${entriesRun.stderr.split('\n')[0]}`);
    }
    const hubsSeen = `${hubsJson.length} hubs, ${hubsJson.reduce((n, h) => n + h.dates, 0)} hub-dates`;
    const datesSeen = `${datesJson.length} dates, ${datesJson.reduce((n, d) => n + d.operators.length, 0)} operators`;

    const lsHubs = paired('syncer ls', ['ls'], ['get', '--prefix', '--keys-only', k.dateIndexPrefix]);
    // ls HUB reads the hub's values and verifies each (so a planted entry never passes for a date).
    const lsDates = paired(`syncer ls ${hub}`, ['ls', hub], ['get', '--prefix', k.hubDatasetsPrefix(hub)]);
    const lsEntries = paired(`syncer ls ${hub} ${date}`, ['ls', hub, date], ['get', '--prefix', k.dateDatasetsPrefix(hub, date)]);
    const fullScan = measure(
      `etcdctl keys-only ${k.datasetsPrefix}`,
      () => etcdctl('etcdctl get datasets', ['get', '--prefix', '--keys-only', k.datasetsPrefix]),
      (out) => {
        const n = out.split('\n').filter(Boolean).length;
        return n === ads ? undefined : `saw ${n} keys, expected ${ads}`;
      },
    );
    const memoryRow = (what: string, m: ReturnType<typeof paired>): Row[] =>
      m.memory
        ? [
            {
              area: 'registry',
              what: `peak memory (max RSS) of ${what}`,
              result: m.memory.text,
              reference: `etcdctl + \`node -e 0\`: ${m.memory.reference}`,
              ratio: m.memory.ratio,
            },
          ]
        : [{ area: 'registry', what: `peak memory of ${what}: not measured (needs /usr/bin/time: apt-get install time)`, result: '-' }];

    const n = (x: number) => x.toLocaleString('en-US');
    return [
      {
        area: 'registry',
        what:
          `populate ${n(ads)} signed advertisements + ${n(markers)} index markers + ${scale.operators} signed operator records (etcd3 client, ` +
          `${pop.txns} txns of <= ${MAX_TXN_OPS} ops, ${IN_FLIGHT} in flight)`,
        result: `write ${fmtMs(pop.ms)} (${n(Math.round(pop.puts / (pop.ms / 1000)))} keys/s)`,
        reference: `generate + sign ${fmtMs(genMs)}; ${dbSize(cluster.endpoints[0]!)}`,
      },
      {
        area: 'registry',
        what: `\`syncer ls\`: ${hubsSeen} (from ${n(markers)} index markers), median (range) of ${scale.runs}, against its floor: etcdctl + node's start-up`,
        result: lsHubs.text,
        reference: `\`etcdctl get --prefix --keys-only ${k.dateIndexPrefix}\`: ${lsHubs.reference}`,
        ratio: ratio(lsHubs.median, lsHubs.floor),
      },
      ...memoryRow('`syncer ls`', lsHubs),
      {
        area: 'registry',
        what: `\`syncer ls ${hub}\`: ${datesSeen} (${n(scale.dates * scale.operators)} values parsed, signatures verified), median (range) of ${scale.runs}`,
        result: lsDates.text,
        reference: `\`etcdctl get --prefix ${k.hubDatasetsPrefix(hub)}\`: ${lsDates.reference}`,
        ratio: ratio(lsDates.median, lsDates.floor),
      },
      ...memoryRow(`\`syncer ls ${hub}\``, lsDates),
      {
        area: 'registry',
        what: `\`syncer ls ${hub} ${date}\`: ${entriesJson.length} advertisements (values parsed, signatures verified), median (range) of ${scale.runs}`,
        result: lsEntries.text,
        reference: `\`etcdctl get --prefix ${k.dateDatasetsPrefix(hub, date)}\`: ${lsEntries.reference}`,
        ratio: ratio(lsEntries.median, lsEntries.floor),
      },
      ...memoryRow(`\`syncer ls ${hub} ${date}\``, lsEntries),
      {
        area: 'registry',
        what: `reference: all ${n(ads)} advertisement keys, keys-only, median (range) of ${scale.runs}${fullScan.note ? ` (${fullScan.note})` : ''}`,
        result: '-',
        reference: `\`etcdctl get --prefix --keys-only ${k.datasetsPrefix}\`: ${fullScan.text}`,
      },
    ];
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}
