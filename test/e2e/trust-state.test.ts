/**
 * Issue 10, trust that survives: pinned keys are never lost silently (a pin file that cannot be
 * read is exit 2 naming it, and stays as it was), they belong to the registry whatever endpoint
 * list reaches it, and a date from the future is never taken, whoever signed it.
 */
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { World, type Operator } from '../helpers/world.js';
import { freshKey, operatorKey, signAd } from '../helpers/forge.js';
import { signRecord } from '../../src/core/operator-record.js';

let world: World;
let a: Operator;
let b: Operator;
const key = (k: string) => `${world.namespace}${k}`;
const read = (k: string) => JSON.parse(world.etcdGet(k)[key(k)]!);
/** The date of lab-a's dataset, as its sync reported it (the clock may cross midnight during the run). */
let synced: string;
const today = () => synced;
/** Two years after today by the clock (scripts/test-dates.sh may move it): a date from the future. */
const FUTURE = new Date(Date.now() + 730 * 86_400_000).toISOString().slice(0, 10);
const pinsFile = (op: Operator) => join(op.home, '.config', 'syncer', 'known_operators.json');

beforeAll(async () => {
  world = new World(inject('etcdHosts'));
  [a, b] = await Promise.all([world.operator('lab-a'), world.operator('lab-b')]);
  a.write({ 'weather/t.csv': 't\n1\n' });
  const r = await a.syncer(['sync', '--hub', 'weather', '--json']);
  expect(r.code, r.stderr).toBe(0);
  synced = JSON.parse(r.stdout).date;
  // b pins lab-a's key on first use.
  const ls = await b.syncer(['ls', 'weather']);
  expect(ls.code, ls.stderr).toBe(0);
}, 60_000);
afterAll(() => world.cleanup());

describe('pinned keys', () => {
  it('a truncated pin file is exit 2 naming it, and is left exactly as it was', async () => {
    const file = pinsFile(b);
    const good = readFileSync(file, 'utf8');
    const truncated = good.slice(0, Math.floor(good.length / 2));
    writeFileSync(file, truncated);
    try {
      const r = await b.syncer(['retrieve', '--hub', 'weather', '--date', 'latest', '--operator', 'lab-a', '--into', join(world.root, 'p1')]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(file);
      expect(r.stderr.trim().split('\n')[0]).toMatch(/cannot read the pinned operator keys/);
      expect(readFileSync(file, 'utf8')).toBe(truncated);
      writeFileSync(file, JSON.stringify({ version: 1, registries: null }));
      const n = await b.syncer(['ls', 'weather']);
      expect(n.code, n.stderr).toBe(2);
      expect(n.stderr).toMatch(/not a pin file/);
    } finally {
      writeFileSync(file, good);
    }
  });

  it('pins hold through another endpoint list of the same registry: a substituted key is refused', async () => {
    const genuineRecord = read('operators/lab-a');
    const genuineAd = read(`datasets/weather/${today()}/lab-a`);
    const evil = freshKey();
    world.etcdPut(
      'operators/lab-a',
      JSON.stringify(
        signRecord(
          { operator: 'lab-a', remote: genuineRecord.remote, publicKey: evil.publicKey, registeredAt: genuineRecord.registeredAt },
          evil.privateKeyPem,
        ),
      ),
    );
    world.etcdPut(`datasets/weather/${today()}/lab-a`, JSON.stringify(signAd({ ...genuineAd, message: 'evil' }, evil)));
    try {
      const port = new URL(world.etcdHosts.split(',')[0]!).port;
      const hosts = `http://localhost:${port},http://127.0.0.1:${port}`;
      const r = await b.syncer([
        '--etcd-hosts',
        hosts,
        'retrieve',
        '--hub',
        'weather',
        '--date',
        'latest',
        '--operator',
        'lab-a',
        '--into',
        join(world.root, 'p2'),
      ]);
      expect(r.code, r.stderr).toBe(5);
      expect(r.stderr).toMatch(/key of lab-a changed/);
    } finally {
      world.etcdPut('operators/lab-a', JSON.stringify(genuineRecord));
      world.etcdPut(`datasets/weather/${today()}/lab-a`, JSON.stringify(genuineAd));
    }
  });

  it('a version 1 pin file (keyed by endpoints) keeps its pins', async () => {
    const file = pinsFile(b);
    const good = readFileSync(file, 'utf8');
    const pins = JSON.parse(good).scopes[world.namespace];
    writeFileSync(file, JSON.stringify({ version: 1, registries: { [`http://10.0.0.9:2379|${world.namespace}`]: pins } }));
    try {
      const ops = JSON.parse((await b.syncer(['operators', '--json'])).stdout) as { operator: string; pin: string }[];
      expect(ops.find((o) => o.operator === 'lab-a')?.pin).toBe('pinned');
    } finally {
      writeFileSync(file, good);
    }
  });
});

describe('a registry wiped and restored elsewhere (another etcd cluster ID)', () => {
  it('keeps the pins, says so once, and still refuses a substituted key', async () => {
    const { startCluster } = await import('../helpers/etcd.js');
    const other = await startCluster(1);
    try {
      const copy = (from: string, to: string) => {
        const out = execFileSync('etcdctl', ['--endpoints', from, 'get', '--prefix', world.namespace, '-w', 'json'], {
          env: { ...process.env, ETCDCTL_API: '3' },
        }).toString();
        for (const kv of (JSON.parse(out).kvs ?? []) as { key: string; value?: string }[]) {
          execFileSync(
            'etcdctl',
            ['--endpoints', to, 'put', Buffer.from(kv.key, 'base64').toString(), '--', Buffer.from(kv.value ?? '', 'base64').toString()],
            { env: { ...process.env, ETCDCTL_API: '3' } },
          );
        }
      };
      copy(world.etcdHosts, other.hosts);
      const hosts = other.hosts;
      const first = await b.syncer(['--etcd-hosts', hosts, 'ls', 'weather']);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stderr).toMatch(/the registry now answers from another etcd cluster .*the keys pinned for it are kept/);
      const again = await b.syncer(['--etcd-hosts', hosts, 'ls', 'weather']);
      expect(again.code, again.stderr).toBe(0);
      expect(again.stderr).not.toMatch(/another etcd cluster/);
      // The restored registry with another key for lab-a: the pin still holds.
      const genuine = read('operators/lab-a');
      const evil = freshKey();
      execFileSync(
        'etcdctl',
        [
          '--endpoints',
          hosts,
          'put',
          key('operators/lab-a'),
          '--',
          JSON.stringify(
            signRecord({ operator: 'lab-a', remote: genuine.remote, publicKey: evil.publicKey, registeredAt: genuine.registeredAt }, evil.privateKeyPem),
          ),
        ],
        { env: { ...process.env, ETCDCTL_API: '3' } },
      );
      const r = await b.syncer([
        '--etcd-hosts',
        hosts,
        'retrieve',
        '--hub',
        'weather',
        '--date',
        'latest',
        '--operator',
        'lab-a',
        '--into',
        join(world.root, 'w1'),
      ]);
      expect(r.code, r.stderr).toBe(5);
      expect(r.stderr).toMatch(/key of lab-a changed/);
    } finally {
      await other.close();
    }
  }, 60_000);
});

describe('first use, a fingerprint, a trust file', () => {
  const fpOf = async (op: Operator, who: string) => {
    const ops = JSON.parse((await op.syncer(['operators', '--json'])).stdout) as { operator: string; fingerprint: string; pinnedBy?: string }[];
    return ops.find((o) => o.operator === who)!;
  };

  it('a reader is told, every time, that a key was trusted on first use only', async () => {
    const c = await world.operator('lab-c');
    for (let i = 0; i < 2; i++) {
      const r = await c.syncer(['ls', 'weather']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(/note: the key of lab-a \(SHA256:\S+\) is trusted on first use only; .*syncer operators pin lab-a SHA256:/);
    }
    expect((await fpOf(c, 'lab-a')).pinnedBy).toBe('first-use');
  });

  it('operators pin OP FINGERPRINT: refused for a key the registry does not hold, then pinned; no more note', async () => {
    const d = await world.operator('lab-d');
    const wrong = `SHA256:${'A'.repeat(43)}`;
    const bad = await d.syncer(['operators', 'pin', 'lab-a', wrong]);
    expect(bad.code, bad.stderr).toBe(5);
    expect(bad.stderr).toMatch(/not pinning lab-a: the registry holds SHA256:\S+, not SHA256:A+/);
    const usage = await d.syncer(['operators', 'pin', 'lab-a', 'SHA256:short']);
    expect(usage.code).toBe(2);
    const fp = (await fpOf(d, 'lab-a')).fingerprint;
    const ok = await d.syncer(['operators', 'pin', 'lab-a', fp]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`pinned lab-a ${fp}`);
    expect((await fpOf(d, 'lab-a')).pinnedBy).toBe('fingerprint');
    const r = await d.syncer(['ls', 'weather']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).not.toMatch(/first use/);
  });

  it('a trust file decides the keys it lists: another key is refused (exit 5), a bad line is exit 2 naming it', async () => {
    const e = await world.operator('lab-e');
    const fp = (await fpOf(b, 'lab-a')).fingerprint;
    const good = join(world.root, 'consortium.trust');
    writeFileSync(good, `# our consortium\nlab-a ${fp}\n`);
    const ok = await e.syncer([
      '--trust-file',
      good,
      'retrieve',
      '--hub',
      'weather',
      '--date',
      'latest',
      '--operator',
      'lab-a',
      '--into',
      join(world.root, 't1'),
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).not.toMatch(/first use/);
    const other = join(world.root, 'other.trust');
    writeFileSync(other, `lab-a SHA256:${'B'.repeat(43)}\n`);
    const refused = await e.syncer(['retrieve', '--hub', 'weather', '--date', 'latest', '--operator', 'lab-a', '--into', join(world.root, 't2')], {
      env: { SYNCER_TRUST_FILE: other },
    });
    expect(refused.code, refused.stderr).toBe(5);
    expect(refused.stderr).toMatch(/not one the trust file lists/);
    const broken = join(world.root, 'broken.trust');
    writeFileSync(broken, `lab-a ${fp}\nlab-b not-a-fingerprint\n`);
    const bad = await e.syncer(['--trust-file', broken, 'ls', 'weather']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain(`${broken}:2`);
  });
});

describe('dates from the future', () => {
  it('a validly signed entry dated two years ahead is skipped with a warning: retrieve --date latest takes today', async () => {
    const genuine = read(`datasets/weather/${today()}/lab-a`);
    const future = signAd(
      { ...genuine, date: FUTURE, tag: `syncer/weather/${FUTURE}`, syncedAt: `${FUTURE}T00:00:00.000Z`, message: 'from the future' },
      operatorKey(a),
    );
    world.etcdPut(`datasets/weather/${FUTURE}/lab-a`, JSON.stringify(future));
    world.etcdPut(`index/dates/weather/${FUTURE}`, '');
    const r = await b.syncer(['retrieve', '--hub', 'weather', '--date', 'latest', '--operator', 'lab-a', '--json', '--into', join(world.root, 'f1')]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).date).toBe(today());
    expect(r.stderr).toMatch(new RegExp(`${FUTURE}.*after tomorrow`));
    const ls = await b.syncer(['ls', '--json']);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).not.toContain(FUTURE);
  });
});

describe('planted junk dated ahead', () => {
  it("an unverifiable entry claiming a later syncedAt neither blocks the operator's sync nor survives reindex", async () => {
    const key = (await a.syncer(['ls', 'weather', '--json'])).stdout;
    expect(key).toContain('lab-a');
    const date = JSON.parse((await a.syncer(['sync', '--hub', 'weather', '--json'])).stdout).date as string;
    const genuine = read(`datasets/weather/${date}/lab-a`);
    const junk = { ...genuine, syncedAt: '2099-12-31T00:00:00.000Z', signature: genuine.signature.replace(/^./, (c: string) => (c === 'A' ? 'B' : 'A')) };
    world.etcdPut(`datasets/weather/${date}/lab-a`, JSON.stringify(junk));
    a.write({ 'weather/t.csv': 't\n2\n' });
    const s = await a.syncer(['sync', '--hub', 'weather', '--json']);
    expect(s.code, s.stderr).toBe(0);
    expect(read(`datasets/weather/${date}/lab-a`).syncedAt).not.toBe('2099-12-31T00:00:00.000Z');
    world.etcdPut(`datasets/weather/${date}/lab-a`, JSON.stringify(junk));
    const r = await b.syncer(['reindex', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(read(`datasets/weather/${date}/lab-a`).syncedAt, "reindex put the tag's genuine entry back").not.toBe('2099-12-31T00:00:00.000Z');
    const got = await b.syncer(['retrieve', '--hub', 'weather', '--date', date, '--operator', 'lab-a', '--into', join(world.root, 'junk-ahead')]);
    expect(got.code, got.stderr).toBe(0);
  }, 90_000);
});
